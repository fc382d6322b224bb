"""Incident endpoints: the sources' webhooks, the incidents heard, and lifting their freezes."""

from typing import cast

from django.contrib.auth.models import User
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.api_guards import WebhookRateThrottle
from apps.accounts.permissions import Action
from apps.core.api import ApiMixin, ApiView, error_responses, id_field, validated
from apps.environments.models import FreezeScope

from . import inbound, services
from .models import Incident, IncidentRoute, IncidentSource, SourceKind

HOOK_DESCRIPTION = """A source of incidents reports one. No person's token: the source's own
credentials, checked before anything else (401 and nothing written when they fail, or the
source is unknown):

* `alertmanager` — Prometheus Alertmanager's webhook (version 4) with
  `Authorization: Bearer <token>` (`http_config.authorization.credentials`). Each alert is an
  incident, by its `fingerprint`; `firing` opens it, `resolved` resolves it.
* `pagerduty` — a PagerDuty v3 webhook subscription, verified with `X-PagerDuty-Signature`
  (`v1=<hex HMAC-SHA256(secret, raw body)>`, comma-separated when several: any one will do).
  `incident.triggered` opens, `incident.resolved` resolves; other event types are ignored.
* `generic` — `{"id", "status": "open" | "resolved", "title", "url", "labels": {...}}` with
  `Authorization: Bearer <token>`.

An incident that opens and matches one of its source's routes declares a freeze of that
route's scope, starting now, that also halts the running waves in it at their next step.
Repeated and out-of-order deliveries are harmless: an id is opened once, a "resolved" heard
first keeps a later "open" from freezing, and an id once resolved is not reopened. A body that
is not JSON or not the source's shape is 400."""


class IncidentSerializer(serializers.ModelSerializer):
    # A field named `source` shadows Field.source in the stubs; at runtime it is a field.
    source = serializers.SlugRelatedField(slug_field="slug", read_only=True)  # type: ignore[assignment,var-annotated]
    freeze = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)  # type: ignore[var-annotated]

    class Meta:
        model = Incident
        fields = [
            "id",
            "source",
            "external_id",
            "state",
            "title",
            "url",
            "labels",
            "freeze",
            "opened_at",
            "resolved_at",
            "created_at",
        ]
        read_only_fields = fields


class ReceivedSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    did = serializers.CharField(help_text="What this delivery changed, in words.")
    incident = IncidentSerializer(allow_null=True)


class DeliverySerializer(serializers.Serializer):
    received = ReceivedSerializer(many=True)


class IncidentHookView(ApiView):
    serializer_class = DeliverySerializer
    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes = [WebhookRateThrottle]
    throttle_scope = "webhook"

    @extend_schema(
        operation_id="incidents_hook",
        description=HOOK_DESCRIPTION,
        request={"application/json": dict},
        responses={202: DeliverySerializer, **error_responses(400, 401)},
        auth=[],
        parameters=[
            OpenApiParameter("Authorization", str, OpenApiParameter.HEADER, required=False),
            OpenApiParameter(
                inbound.PAGERDUTY_SIGNATURE_HEADER, str, OpenApiParameter.HEADER, required=False
            ),
        ],
    )
    def post(self, request: Request, slug: str) -> Response:
        received = services.incident_receive(slug=slug, body=request.body, headers=request.headers)
        data = {
            "received": [
                {"external_id": r.external_id, "did": r.did, "incident": r.incident}
                for r in received
            ]
        }
        return Response(DeliverySerializer(data).data, status=status.HTTP_202_ACCEPTED)


class IncidentListView(ApiMixin, generics.ListAPIView):
    """Incidents heard from every source, newest first, with the freeze each declared."""

    serializer_class = IncidentSerializer
    ordering = ["-created_at", "-id"]
    ordering_fields = ["created_at", "id"]
    filterset_fields = ["state"]

    def get_queryset(self) -> QuerySet[Incident]:
        return Incident.objects.select_related("source", "freeze")


class LiftApproveSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300, help_text="Why the freeze may be lifted.")


class LiftStateSerializer(serializers.Serializer):
    freeze = serializers.IntegerField(source="freeze.pk")
    approvers = serializers.ListField(child=serializers.CharField())
    needed = serializers.IntegerField(help_text="Distinct approvals the freeze needs to lift.")
    lifted = serializers.BooleanField()
    detail = serializers.CharField(source="message")


class FreezeLiftView(ApiView):
    """Approve lifting an incident freeze early. It lifts when as many distinct people as its
    environments' `freeze_lift_quorum` have approved (the largest, for a region or everywhere):
    200 with `lifted: true` then; 202 with the approvals so far while more are needed. The
    same person approving again is 409 and changes nothing. Who may approve: the platform role,
    or an organisation-wide operator whose grant covers every tier the freeze covers."""

    serializer_class = LiftStateSerializer
    write_actions = {"POST": Action.STOP_THE_LINE}

    @extend_schema(
        operation_id="freeze_windows_lift",
        request=LiftApproveSerializer,
        responses={
            200: LiftStateSerializer,
            202: LiftStateSerializer,
            **error_responses(400, 404, 409),
        },
    )
    def post(self, request: Request, id: int) -> Response:
        data = validated(LiftApproveSerializer, request)
        state = services.freeze_lift_approve(
            freeze_id=id, actor=cast(User, request.user), reason=data["reason"]
        )
        code = status.HTTP_200_OK if state.lifted else status.HTTP_202_ACCEPTED
        return Response(LiftStateSerializer(state).data, status=code)


class RouteSerializer(serializers.ModelSerializer):
    environment = serializers.IntegerField(source="environment_id", read_only=True, allow_null=True)
    application = serializers.SlugRelatedField(  # type: ignore[var-annotated]
        slug_field="slug",
        read_only=True,
        allow_null=True,
        help_text="The one application whose waves it freezes; null: every application's.",
    )

    class Meta:
        model = IncidentRoute
        fields = ["match", "scope", "environment", "region", "application"]
        read_only_fields = fields


class RouteWriteSerializer(serializers.Serializer):
    match = serializers.DictField(
        child=serializers.CharField(max_length=300),
        required=False,
        default=dict,
        help_text="Labels the incident must have, with these values; empty: any incident.",
    )
    scope = serializers.ChoiceField(choices=FreezeScope.choices)
    environment = id_field(required=False, allow_null=True, help_text="For scope environment.")
    region = serializers.CharField(
        max_length=64, required=False, allow_blank=True, help_text="For scope region."
    )
    application = serializers.SlugField(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text="An application's slug: freeze only its waves in the scope; empty: every one.",
    )


class IncidentSourceSerializer(serializers.ModelSerializer):
    routes = RouteSerializer(many=True, read_only=True)
    credential_set = serializers.SerializerMethodField(
        help_text="Whether a token (or PagerDuty secret) is stored; it is never shown again."
    )

    class Meta:
        model = IncidentSource
        fields = [
            "id",
            "name",
            "slug",
            "kind",
            "lift_on_resolve",
            "freeze_hours",
            "active",
            "routes",
            "credential_set",
            "created_at",
        ]
        read_only_fields = fields

    def get_credential_set(self, source: IncidentSource) -> bool:
        return bool(source.token_sha256 or source.secret)


class IncidentSourceCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    slug = serializers.SlugField(max_length=64)
    kind = serializers.ChoiceField(choices=SourceKind.choices)
    secret = serializers.CharField(
        max_length=128,
        required=False,
        allow_blank=True,
        write_only=True,
        trim_whitespace=False,
        help_text="PagerDuty's signing secret (pagerduty only; at least 16 characters).",
    )
    lift_on_resolve = serializers.BooleanField(default=False)
    freeze_hours = serializers.IntegerField(
        min_value=1, max_value=24 * 366, required=False, allow_null=True, default=None
    )
    routes = RouteWriteSerializer(many=True, required=False, default=list)


class IncidentSourceCreatedSerializer(IncidentSourceSerializer):
    """The new source, with its token (documented shape of the answer)."""

    token = serializers.CharField(
        read_only=True,
        help_text="The bearer token for Alertmanager and generic sources, shown this once; "
        "empty for PagerDuty.",
    )

    class Meta(IncidentSourceSerializer.Meta):
        fields = [*IncidentSourceSerializer.Meta.fields, "token"]
        read_only_fields = fields


class IncidentSourceListView(ApiMixin, generics.ListAPIView):
    """Where incidents come from and what each freezes (the platform role). Credentials are
    never shown: a new source's token is in the answer that creates it, once."""

    queryset = IncidentSource.objects.prefetch_related("routes__application")
    serializer_class = IncidentSourceSerializer
    read_action = Action.MANAGE_ENVIRONMENTS
    write_actions = {"POST": Action.MANAGE_ENVIRONMENTS}
    ordering = ["name", "id"]
    ordering_fields = ["name", "id"]

    @extend_schema(
        request=IncidentSourceCreateSerializer,
        responses={201: IncidentSourceCreatedSerializer, **error_responses(400)},
    )
    def post(self, request: Request) -> Response:
        data = validated(IncidentSourceCreateSerializer, request)
        routes = [
            {
                "match": r.get("match") or {},
                "scope": r["scope"],
                "environment_id": r.get("environment"),
                "region": r.get("region", ""),
                "application": r.get("application", ""),
            }
            for r in data.pop("routes")
        ]
        source, credential = services.incident_source_create(
            actor=cast(User, request.user), routes=cast(list[services.RouteSpec], routes), **data
        )
        token = "" if source.kind == SourceKind.PAGERDUTY else credential
        source = IncidentSource.objects.prefetch_related("routes__application").get(pk=source.pk)
        body = {**IncidentSourceSerializer(source).data, "token": token}
        return Response(body, status=status.HTTP_201_CREATED)
