"""Rollout plan and wave endpoints: read the plan and its waves, set the strategy, add waves."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.permissions import Action
from apps.core.api import ApiMixin, ApiView, error_responses, validated
from apps.releases.api import (
    EnvironmentRefSerializer,
    ReleaseScopedMixin,
    id_field,
    required_text,
)

from . import services
from .models import Deployer, FailurePolicy, RolloutPlan, Strategy, Wave, WaveState


class PlanSerializer(serializers.ModelSerializer):
    release = serializers.IntegerField(source="release_id", read_only=True)
    strategy = serializers.ChoiceField(choices=Strategy.choices, read_only=True)

    class Meta:
        model = RolloutPlan
        fields = ["id", "release", "strategy", "created_at", "updated_at"]
        read_only_fields = fields


class PlanWriteSerializer(serializers.Serializer):
    strategy = serializers.ChoiceField(choices=Strategy.choices)


class PlanView(ApiView):
    """The release's rollout plan: its strategy (its waves are at /releases/{id}/waves/)."""

    serializer_class = PlanSerializer
    write_actions = {"PUT": Action.PLAN_ROLLOUT}

    @extend_schema(operation_id="releases_rollout_plan_retrieve")
    def get(self, request: Request, release_id: int) -> Response:
        return Response(PlanSerializer(get_object_or_404(RolloutPlan, release_id=release_id)).data)

    @extend_schema(
        operation_id="releases_rollout_plan_set",
        request=PlanWriteSerializer,
        responses={200: PlanSerializer, **error_responses(400, 409)},
        description="Create the plan or change its strategy; fixed once rolling out (409).",
    )
    def put(self, request: Request, release_id: int) -> Response:
        data = validated(PlanWriteSerializer, request)
        plan = services.plan_set(
            release_id=release_id, strategy=data["strategy"], actor=request.user
        )
        return Response(PlanSerializer(plan).data)


class WaveSerializer(serializers.ModelSerializer):
    release = serializers.IntegerField(source="plan.release_id", read_only=True)
    environment = EnvironmentRefSerializer(read_only=True)
    state = serializers.ChoiceField(choices=WaveState.choices, read_only=True)

    class Meta:
        model = Wave
        fields = [
            "id",
            "release",
            "position",
            "name",
            "environment",
            "percentage",
            "planned_start",
            "bake_minutes",
            "failure_policy",
            "deployer",
            "shadow",
            "state",
            "state_reason",
            "skip_reason",
            "scheduled_at",
            "started_at",
            "finished_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class WaveCreateSerializer(serializers.Serializer):
    name = required_text(100)
    environment = id_field()
    percentage = serializers.IntegerField(min_value=0, max_value=100, default=100)
    planned_start = serializers.DateTimeField(required=False, allow_null=True)
    bake_minutes = serializers.IntegerField(min_value=0, max_value=60 * 24 * 14, default=30)
    failure_policy = serializers.ChoiceField(choices=FailurePolicy.choices, default="halt")
    deployer = serializers.ChoiceField(choices=Deployer.choices, default="simulated")
    shadow = serializers.BooleanField(default=False)


WAVES = Wave.objects.select_related("plan", "environment")


class WaveListView(ApiMixin, ReleaseScopedMixin, generics.ListCreateAPIView):
    """The waves of a release's plan, in order."""

    serializer_class = WaveSerializer
    filterset_fields = ["state", "environment"]
    ordering_fields = ["position"]
    ordering = ["position"]
    write_actions = {"POST": Action.PLAN_ROLLOUT}

    queryset = WAVES
    release_field = "plan__release"

    @extend_schema(
        request=WaveCreateSerializer,
        responses={201: WaveSerializer, **error_responses(400, 409)},
        description="Append a wave. The plan needs a strategy first (409).",
    )
    def post(self, request: Request, release_id: int) -> Response:
        data = validated(WaveCreateSerializer, request)
        wave = services.wave_add(
            release_id=release_id,
            environment_id=data.pop("environment"),
            actor=request.user,
            **data,
        )
        return Response(WaveSerializer(WAVES.get(pk=wave.pk)).data, status=status.HTTP_201_CREATED)


class WaveDetailView(ApiMixin, generics.RetrieveAPIView):
    queryset = WAVES
    serializer_class = WaveSerializer
    lookup_url_kwarg = "id"
