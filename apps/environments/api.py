"""Environment endpoints: environments, their deployment and freeze windows, stop the line."""

from typing import Any, cast

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.models import validate_time_zone
from apps.accounts.permissions import Action
from apps.core.api import (
    ApiMixin,
    ApiView,
    DateTimeFilter,
    DateTimeRangeFilter,
    EnvironmentRefSerializer,
    IdFilter,
    error_responses,
    id_field,
    no_content,
    user_ref,
    validated,
)

from . import services, stop_line
from .models import DeploymentWindow, Environment, FreezeScope, FreezeWindow, StopTheLine, Tier
from .validators import (
    SECRET_MAX,
    SECRET_MIN,
    validate_deploy_secret,
    validate_http_url,
    validate_moment,
)


class EnvironmentSerializer(serializers.ModelSerializer):
    health_url = serializers.CharField(read_only=True, help_text="An http(s) URL, or empty.")
    deploy_url = serializers.CharField(
        read_only=True,
        help_text=(
            "Where the webhook deployer POSTs its signed deploy requests, or empty. Each is "
            'JSON `{"action": "deploy" or "rollback", "key", "release": {"id", "name", '
            '"version", "build_ref", "application"}, "version", "wave": {"id", "name", '
            '"position"}, "environment", "percentage", "report_url"}` with the headers '
            "`X-ReleaseDeck-Timestamp`, `X-ReleaseDeck-Signature: sha256=<hex of "
            'HMAC-SHA256(deploy secret, timestamp + "." + raw body)>` and `Idempotency-Key` '
            "(the call's key, the same on every attempt). The tool answers 2xx, then reports "
            "with `POST {report_url}` (`waves_report`)."
        ),
    )
    deploy_secret_set = serializers.SerializerMethodField(
        help_text="Whether a deploy secret is stored; the secret itself is never shown."
    )

    class Meta:
        model = Environment
        fields = [
            "id",
            "name",
            "tier",
            "region",
            "time_zone",
            "health_url",
            "deploy_url",
            "deploy_secret_set",
            "freeze_lift_quorum",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_deploy_secret_set(self, env: Environment) -> bool:
        return bool(env.deploy_secret)


def _text(max_length: int, **kwargs: Any) -> serializers.CharField:
    """Text that may be blank, trimmed as the pages' forms trim it."""
    return serializers.CharField(max_length=max_length, allow_blank=True, **kwargs)


class EnvironmentWriteSerializer(serializers.Serializer):
    name = serializers.SlugField(max_length=64)
    tier = serializers.ChoiceField(choices=Tier.choices)
    region = _text(64, required=False)
    time_zone = serializers.CharField(
        max_length=64,
        validators=[validate_time_zone],
        help_text="An IANA time zone, e.g. Europe/Berlin.",
    )
    health_url = _text(200, required=False, validators=[validate_http_url])
    deploy_url = _text(
        200,
        required=False,
        validators=[validate_http_url],
        help_text="The deploy tool's http(s) URL for the webhook deployer.",
    )
    deploy_secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=SECRET_MAX,
        trim_whitespace=False,
        validators=[validate_deploy_secret],
        help_text=(
            f"The HMAC-SHA256 key that signs deploy requests, {SECRET_MIN} to {SECRET_MAX} "
            "characters; empty removes it. Write-only: no answer contains it "
            "(see `deploy_secret_set`)."
        ),
    )
    freeze_lift_quorum = serializers.IntegerField(
        min_value=1,
        max_value=20,
        required=False,
        help_text=(
            "How many distinct people must approve lifting an incident freeze that covers this "
            "environment (`POST /api/v1/freeze-windows/{id}/lift/`); 1 by default."
        ),
    )


class EnvironmentListView(ApiMixin, generics.ListCreateAPIView):
    """Where releases are deployed; a region is an environment of its own."""

    queryset = Environment.objects.all()
    serializer_class = EnvironmentSerializer
    filterset_fields = ["tier", "region", "name"]
    ordering_fields = ["name", "tier", "region"]
    write_actions = {"POST": Action.MANAGE_ENVIRONMENTS}

    @extend_schema(
        request=EnvironmentWriteSerializer,
        responses={201: EnvironmentSerializer, **error_responses(400)},
    )
    def post(self, request: Request) -> Response:
        data = validated(EnvironmentWriteSerializer, request)
        env = services.environment_create(actor=cast(User, request.user), **data)
        return Response(EnvironmentSerializer(env).data, status=status.HTTP_201_CREATED)


class EnvironmentDetailView(ApiMixin, generics.RetrieveAPIView):
    queryset = Environment.objects.all()
    serializer_class = EnvironmentSerializer
    lookup_url_kwarg = "id"
    write_actions = {"PATCH": Action.MANAGE_ENVIRONMENTS}

    @extend_schema(
        request=EnvironmentWriteSerializer(partial=True),
        responses={200: EnvironmentSerializer, **error_responses(400)},
    )
    def patch(self, request: Request, id: int) -> Response:
        data = validated(EnvironmentWriteSerializer, request, partial=True)
        env = services.environment_update(environment_id=id, actor=cast(User, request.user), **data)
        return Response(EnvironmentSerializer(env).data)


@extend_schema_field(
    {
        "type": "string",
        "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$",
        "example": "09:00",
    }
)
class LocalTimeField(serializers.TimeField):
    """A wall-clock time in the environment's own time zone, without an offset."""


class DeploymentWindowSerializer(serializers.ModelSerializer):
    weekdays = serializers.ListField(child=serializers.IntegerField(min_value=0, max_value=6))
    start_time = LocalTimeField(read_only=True)
    end_time = LocalTimeField(read_only=True)

    class Meta:
        model = DeploymentWindow
        fields = ["id", "environment", "weekdays", "start_time", "end_time"]
        read_only_fields = fields


class DeploymentWindowWriteSerializer(serializers.Serializer):
    weekdays = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=6),
        min_length=1,
        max_length=7,
        help_text="0 = Monday … 6 = Sunday.",
    )
    start_time = LocalTimeField(help_text="Local time in the environment's time zone.")
    end_time = LocalTimeField()


class DeploymentWindowListView(ApiMixin, generics.ListCreateAPIView):
    """When changes to an environment are allowed: weekdays and local hours."""

    serializer_class = DeploymentWindowSerializer
    write_actions = {"POST": Action.MANAGE_ENVIRONMENTS}
    ordering_fields = ["id", "start_time"]

    def get_queryset(self) -> QuerySet[DeploymentWindow]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request
            return DeploymentWindow.objects.none()
        env = get_object_or_404(Environment, pk=self.kwargs["environment_id"])
        return DeploymentWindow.objects.filter(environment=env).order_by("id")

    @extend_schema(
        request=DeploymentWindowWriteSerializer,
        responses={201: DeploymentWindowSerializer, **error_responses(400)},
    )
    def post(self, request: Request, environment_id: int) -> Response:
        data = validated(DeploymentWindowWriteSerializer, request)
        window = services.deployment_window_add(
            environment_id=environment_id, actor=cast(User, request.user), **data
        )
        return Response(DeploymentWindowSerializer(window).data, status=status.HTTP_201_CREATED)


class DeploymentWindowDetailView(ApiMixin, generics.RetrieveAPIView):
    queryset = DeploymentWindow.objects.all()
    serializer_class = DeploymentWindowSerializer
    lookup_url_kwarg = "id"
    write_actions = {"DELETE": Action.MANAGE_ENVIRONMENTS}

    @extend_schema(responses={204: None})
    def delete(self, request: Request, id: int) -> Response:
        services.deployment_window_remove(window_id=id, actor=cast(User, request.user))
        return no_content()


class FreezeWindowSerializer(serializers.ModelSerializer):
    environment = EnvironmentRefSerializer(read_only=True, allow_null=True)
    created_by = user_ref()

    class Meta:
        model = FreezeWindow
        fields = [
            "id",
            "scope",
            "environment",
            "region",
            "application_id",
            "start",
            "end",
            "reason",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "application_id": {
                "help_text": "The one application whose waves it freezes (its id); null: every "
                "application's."
            }
        }


class FreezeWindowCreateSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=FreezeScope.choices)
    environment = id_field(required=False, allow_null=True, help_text="For scope environment.")
    region = _text(64, required=False, help_text="For scope region.")
    start = serializers.DateTimeField(validators=[validate_moment])
    end = serializers.DateTimeField(validators=[validate_moment])
    reason = serializers.CharField(max_length=300)


class FreezeWindowUpdateSerializer(serializers.Serializer):
    start = serializers.DateTimeField(required=False, validators=[validate_moment])
    end = serializers.DateTimeField(required=False, validators=[validate_moment])
    reason = serializers.CharField(max_length=300, required=False)
    change_reason = _text(
        2000,
        required=False,
        help_text="Why the freeze changes; required to shorten a freeze in force.",
    )


class FreezeLiftSerializer(serializers.Serializer):
    reason = _text(2000, required=False, help_text="Why it is lifted; required while in force.")


class FreezeWindowFilter(filters.FilterSet):
    scope = filters.ChoiceFilter(choices=FreezeScope.choices)
    environment = IdFilter(field_name="environment_id")
    region = filters.CharFilter()
    start = DateTimeRangeFilter()
    end = DateTimeRangeFilter()
    # drf-spectacular types this decorator for callables; it annotates filters too.
    active_at = extend_schema_field(OpenApiTypes.DATETIME)(  # type: ignore[type-var]
        DateTimeFilter(method="filter_active_at", label="Freezes in force then.")
    )

    class Meta:
        model = FreezeWindow
        fields: list[str] = []

    def filter_active_at(self, queryset: QuerySet, name: str, value: Any) -> QuerySet:
        return queryset.filter(start__lte=value, end__gt=value)


FREEZES = FreezeWindow.objects.select_related("environment", "created_by")


class FreezeWindowListView(ApiMixin, generics.ListCreateAPIView):
    """Blackouts: no wave starts in their scope between start and end."""

    queryset = FREEZES
    serializer_class = FreezeWindowSerializer
    filterset_class = FreezeWindowFilter
    ordering_fields = ["start", "end", "id"]
    ordering = ["start", "id"]
    write_actions = {"POST": Action.MANAGE_ENVIRONMENTS}

    @extend_schema(
        request=FreezeWindowCreateSerializer,
        responses={201: FreezeWindowSerializer, **error_responses(400)},
    )
    def post(self, request: Request) -> Response:
        data = validated(FreezeWindowCreateSerializer, request)
        freeze = services.freeze_create(
            actor=cast(User, request.user), environment_id=data.pop("environment", None), **data
        )
        return Response(
            FreezeWindowSerializer(FREEZES.get(pk=freeze.pk)).data, status=status.HTTP_201_CREATED
        )


class FreezeWindowDetailView(ApiMixin, generics.RetrieveAPIView):
    queryset = FREEZES
    serializer_class = FreezeWindowSerializer
    lookup_url_kwarg = "id"
    write_actions = {"PATCH": Action.MANAGE_ENVIRONMENTS, "DELETE": Action.MANAGE_ENVIRONMENTS}

    @extend_schema(
        request=FreezeWindowUpdateSerializer,
        responses={200: FreezeWindowSerializer, **error_responses(400)},
    )
    def patch(self, request: Request, id: int) -> Response:
        data = validated(FreezeWindowUpdateSerializer, request)
        services.freeze_update(freeze_id=id, actor=cast(User, request.user), **data)
        return Response(FreezeWindowSerializer(FREEZES.get(pk=id)).data)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "reason",
                str,
                description="Why the freeze is lifted; required while it is in force.",
            )
        ],
        responses={204: None, **error_responses(400)},
    )
    def delete(self, request: Request, id: int) -> Response:
        query = FreezeLiftSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        services.freeze_remove(
            freeze_id=id,
            actor=cast(User, request.user),
            reason=query.validated_data.get("reason", ""),
        )
        return no_content()


class StopTheLineSerializer(serializers.ModelSerializer):
    changed_by = user_ref()

    class Meta:
        model = StopTheLine
        fields = ["active", "reason", "changed_by", "changed_at"]
        read_only_fields = fields


class StopTheLineWriteSerializer(serializers.Serializer):
    active = serializers.BooleanField()
    reason = _text(300, required=False, help_text="Required to stop the line.")


class StopTheLineView(ApiView):
    """The global switch: while active, every running wave halts and none starts."""

    serializer_class = StopTheLineSerializer
    write_actions = {"PUT": Action.STOP_THE_LINE}

    @extend_schema(operation_id="stop_the_line_retrieve")
    def get(self, request: Request) -> Response:
        switch = StopTheLine.objects.select_related("changed_by").filter(pk=1).first()
        return Response(StopTheLineSerializer(switch or StopTheLine()).data)

    @extend_schema(
        operation_id="stop_the_line_set",
        request=StopTheLineWriteSerializer,
        responses={200: StopTheLineSerializer, **error_responses(400)},
    )
    def put(self, request: Request) -> Response:
        data = validated(StopTheLineWriteSerializer, request)
        # The rollout engine owns the switch: pulling it halts every running wave at once.
        stop_line.stop_the_line_set(actor=cast(User, request.user), **data)
        switch = StopTheLine.objects.select_related("changed_by").get(pk=1)
        return Response(StopTheLineSerializer(switch).data)
