"""Waves: read, add and edit them, operate them, and set a wave's own sign-off requirement."""

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.permissions import Action
from apps.core.api import (
    ApiMixin,
    ApiView,
    EnvironmentRefSerializer,
    error_responses,
    id_field,
    validated,
)
from apps.releases.api import ReleaseScopedMixin
from apps.signoffs.models import SignoffRequirement

from .. import operations, services
from ..forms import MAX_BAKE_MINUTES
from ..models import Deployer, FailurePolicy, Wave, WaveState
from ..operations import WaveAction
from .shared import LocalTimeField, MomentField, person


class WaveSerializer(serializers.ModelSerializer):
    release = serializers.IntegerField(source="plan.release_id", read_only=True)
    environment = EnvironmentRefSerializer(read_only=True)
    state = serializers.ChoiceField(choices=WaveState.choices, read_only=True)
    rollback_pending = serializers.BooleanField(
        read_only=True, help_text="A rollback waits for the deploy tool to confirm it."
    )

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
            "rollback_pending",
            "skip_reason",
            "scheduled_at",
            "started_at",
            "finished_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


PLANNED_START_HELP = (
    "The planned start as a moment with its offset, e.g. 2026-12-01T08:00:00Z. "
    "Give this or planned_start_local, not both."
)
PLANNED_START_LOCAL_HELP = (
    "The planned start as local wall-clock time in the wave's environment, without an offset, "
    "e.g. 2026-12-01T09:00. Give this or planned_start, not both."
)


BOTH_STARTS = "Give planned_start (UTC) or planned_start_local, not both."


class WaveCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    environment = id_field()
    percentage = serializers.IntegerField(min_value=0, max_value=100, default=100)
    planned_start = MomentField(required=False, allow_null=True, help_text=PLANNED_START_HELP)
    planned_start_local = LocalTimeField(required=False, help_text=PLANNED_START_LOCAL_HELP)
    bake_minutes = serializers.IntegerField(min_value=0, max_value=MAX_BAKE_MINUTES, default=30)
    failure_policy = serializers.ChoiceField(choices=FailurePolicy.choices, default="halt")
    deployer = serializers.ChoiceField(choices=Deployer.choices, default="simulated")
    shadow = serializers.BooleanField(default=False)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if data.get("planned_start") is not None and data.get("planned_start_local") is not None:
            raise serializers.ValidationError({"planned_start": BOTH_STARTS})
        return data


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
            actor=person(request),
            **data,
        )
        return Response(WaveSerializer(WAVES.get(pk=wave.pk)).data, status=status.HTTP_201_CREATED)


class WaveDetailView(ApiMixin, generics.RetrieveAPIView):
    queryset = WAVES
    serializer_class = WaveSerializer
    lookup_url_kwarg = "id"


class WaveUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    environment = id_field(required=False)
    percentage = serializers.IntegerField(min_value=0, max_value=100, required=False)
    planned_start = MomentField(required=False, allow_null=True, help_text=PLANNED_START_HELP)
    planned_start_local = LocalTimeField(required=False, help_text=PLANNED_START_LOCAL_HELP)
    bake_minutes = serializers.IntegerField(min_value=0, max_value=MAX_BAKE_MINUTES, required=False)
    failure_policy = serializers.ChoiceField(choices=FailurePolicy.choices, required=False)
    deployer = serializers.ChoiceField(choices=Deployer.choices, required=False)
    shadow = serializers.BooleanField(required=False)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if "planned_start" in data and "planned_start_local" in data:
            raise serializers.ValidationError({"planned_start": BOTH_STARTS})
        return data


class WaveEditView(WaveDetailView, generics.UpdateAPIView):
    """Read a wave; edit it while it has not started (times in its environment's local time)."""

    write_actions = {"PATCH": Action.PLAN_ROLLOUT}
    http_method_names = ["get", "patch", "head", "options"]

    @extend_schema(
        request=WaveUpdateSerializer,
        responses={200: WaveSerializer, **error_responses(400, 409)},
    )
    def patch(self, request: Request, id: int) -> Response:
        data = validated(WaveUpdateSerializer, request)
        if "environment" in data:
            data["environment_id"] = data.pop("environment")
        services.wave_update(wave_id=id, actor=person(request), **data)
        return Response(WaveSerializer(WAVES.get(pk=id)).data)


class OperateSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


def _operate_view(action: WaveAction, doc: str) -> type[ApiView]:
    class OperateView(ApiView):
        serializer_class = WaveSerializer
        write_actions = {"POST": Action.OPERATE_WAVES}

        @extend_schema(
            operation_id=f"waves_{action}",
            request=OperateSerializer,
            responses={
                200: WaveSerializer,
                **({202: WaveSerializer} if action == "rollback" else {}),
                **error_responses(400, 409),
            },
            description=doc,
        )
        def post(self, request: Request, id: int) -> Response:
            data = validated(OperateSerializer, request)
            operations.wave_operate(
                wave_id=id, action=action, actor=person(request), reason=data["reason"]
            )
            wave = WAVES.get(pk=id)
            # A rollback the deploy tool has yet to confirm is accepted, not done.
            accepted = action == "rollback" and wave.rollback_pending
            return Response(
                WaveSerializer(wave).data,
                status=status.HTTP_202_ACCEPTED if accepted else status.HTTP_200_OK,
            )

    OperateView.__name__ = OperateView.__qualname__ = f"Wave{action.capitalize()}View"
    OperateView.__doc__ = doc
    return OperateView


WAVE_ACTION_VIEWS = {
    "start": _operate_view(
        WaveAction.START,
        "Start the wave now, before its planned time; refused (409, with blockers) during a "
        "freeze, outside deployment hours, while stop the line is on or its sign-off is missing.",
    ),
    "pause": _operate_view(WaveAction.PAUSE, "Halt the wave where it is."),
    "resume": _operate_view(WaveAction.RESUME, "Continue a halted wave where it stopped."),
    "abort": _operate_view(
        WaveAction.ABORT, "Stop the wave for good, without rolling back (reason required)."
    ),
    "rollback": _operate_view(
        WaveAction.ROLLBACK,
        "Undo a deployed wave through its deployer (reason required). A webhook wave keeps "
        "its state with `rollback_pending` true and the answer is 202 until the deploy tool "
        "confirms; it then reads `rolled_back`, or halts with the tool's reason if the "
        "rollback failed. Other deployers roll back at once (200).",
    ),
    "skip": _operate_view(
        WaveAction.SKIP, "Leave a wave out (reason required); the next one may start."
    ),
    "confirm": _operate_view(
        WaveAction.CONFIRM, "Confirm a manual deploy is done; the bake starts."
    ),
}


class WaveRequirementSerializer(serializers.Serializer):
    role = serializers.SlugField(max_length=32)
    count = serializers.IntegerField(min_value=0, max_value=50)


class WaveRequirementView(ApiView):
    """A wave's own sign-off requirement, e.g. 1 × business_owner before prod-eu (count 0 removes it)."""

    visible_through = (Wave, "id")  # 404 for a wave of a hidden release

    serializer_class = WaveRequirementSerializer
    queryset = Wave.objects.none()
    pagination_class = None
    filter_backends: list = []
    write_actions = {"PUT": Action.SET_POLICY}

    @extend_schema(
        operation_id="waves_signoff_requirement_set",
        request=WaveRequirementSerializer,
        responses={200: WaveRequirementSerializer(many=True), **error_responses(400, 409)},
    )
    def put(self, request: Request, id: int) -> Response:
        data = validated(WaveRequirementSerializer, request)
        services.wave_requirement_set(wave_id=id, actor=person(request), **data)
        return Response(self._current(id))

    @extend_schema(
        operation_id="waves_signoff_requirement_list",
        responses={200: WaveRequirementSerializer(many=True)},
    )
    def get(self, request: Request, id: int) -> Response:
        get_object_or_404(Wave, pk=id)
        return Response(self._current(id))

    @staticmethod
    def _current(wave_id: int) -> list[dict]:
        return [
            {"role": role, "count": count}
            for role, count in SignoffRequirement.objects.filter(wave_id=wave_id)
            .order_by("role__slug")
            .values_list("role__slug", "count")
        ]
