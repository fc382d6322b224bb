"""Incident endpoints: the sources' webhooks, the incidents heard, and lifting their freezes."""

from typing import cast

from django.contrib.auth.models import User
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.permissions import Action
from apps.core.api import ApiMixin, ApiView, error_responses, validated

from . import inbound, services
from .models import Incident

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
