"""Rollout plan and wave endpoints: read the plan and its waves, set the strategy, add waves."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.permissions import Action, can
from apps.core import signing
from apps.core.api import ApiMixin, ApiView, error_responses, validated
from apps.releases.api import (
    EnvironmentRefSerializer,
    ReleaseScopedMixin,
    id_field,
    required_text,
)
from apps.releases.models import Release

from . import dryrun, operations, reports, services
from .models import (
    Check,
    CheckKind,
    CheckResult,
    DeployAction,
    DeployCall,
    Deployer,
    FailurePolicy,
    ReportStatus,
    RolloutPlan,
    Strategy,
    Wave,
    WaveState,
)


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


class WaveCreateSerializer(serializers.Serializer):
    name = required_text(100)
    environment = id_field()
    percentage = serializers.IntegerField(min_value=0, max_value=100, default=100)
    planned_start = serializers.DateTimeField(
        required=False, allow_null=True, help_text=PLANNED_START_HELP
    )
    planned_start_local = serializers.CharField(
        max_length=40,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text=PLANNED_START_LOCAL_HELP,
    )
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


class WaveUpdateSerializer(serializers.Serializer):
    name = required_text(100, required=False)
    environment = id_field(required=False)
    percentage = serializers.IntegerField(min_value=0, max_value=100, required=False)
    planned_start = serializers.DateTimeField(
        required=False, allow_null=True, help_text=PLANNED_START_HELP
    )
    planned_start_local = serializers.CharField(
        max_length=40,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text=PLANNED_START_LOCAL_HELP,
    )
    bake_minutes = serializers.IntegerField(min_value=0, max_value=60 * 24 * 14, required=False)
    failure_policy = serializers.ChoiceField(choices=FailurePolicy.choices, required=False)
    deployer = serializers.ChoiceField(choices=Deployer.choices, required=False)
    shadow = serializers.BooleanField(required=False)


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
        services.wave_update(wave_id=id, actor=request.user, **data)
        return Response(WaveSerializer(WAVES.get(pk=id)).data)


class OperateSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, default="", trim_whitespace=False
    )


def _operate_view(action: str, doc: str) -> type[ApiView]:
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
                wave_id=id, action=action, actor=request.user, reason=data["reason"]
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
        "start",
        "Start the wave now, before its planned time; refused (409, with blockers) during a "
        "freeze, outside deployment hours, while stop the line is on or its sign-off is missing.",
    ),
    "pause": _operate_view("pause", "Halt the wave where it is."),
    "resume": _operate_view("resume", "Continue a halted wave where it stopped."),
    "abort": _operate_view(
        "abort", "Stop the wave for good, without rolling back (reason required)."
    ),
    "rollback": _operate_view(
        "rollback",
        "Undo a deployed wave through its deployer (reason required). A webhook wave keeps "
        "its state with `rollback_pending` true and the answer is 202 until the deploy tool "
        "confirms; it then reads `rolled_back`, or halts with the tool's reason if the "
        "rollback failed. Other deployers roll back at once (200).",
    ),
    "skip": _operate_view("skip", "Leave a wave out (reason required); the next one may start."),
    "confirm": _operate_view("confirm", "Confirm a manual deploy is done; the bake starts."),
}


class DeployCallSerializer(serializers.ModelSerializer):
    """A call to the deploy tool. Its `key` is shown only to those who may operate the wave
    (and to the tool that reports on it)."""

    wave = serializers.IntegerField(source="wave_id", read_only=True)

    class Meta:
        model = DeployCall
        fields = [
            "id",
            "wave",
            "action",
            "round",
            "key",
            "state",
            "attempts",
            "sent_at",
            "reported_at",
            "response_status",
            "last_error",
            "report_message",
        ]
        read_only_fields = fields

    def to_representation(self, instance: DeployCall) -> dict:
        data = super().to_representation(instance)
        if not self.context.get("show_keys", True):
            data.pop("key")
        return data


class ReportSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=ReportStatus.choices)
    message = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, default="", trim_whitespace=False
    )
    key = serializers.UUIDField(help_text="The `key` of the call being reported.")
    action = serializers.ChoiceField(choices=DeployAction.choices, default=DeployAction.DEPLOY)


class WaveReportView(ApiView):
    """A deploy tool reports on a call it received. No person's token: the request is signed
    with the environment's deploy secret (`X-ReleaseDeck-Timestamp`, `X-ReleaseDeck-Signature:
    sha256=<hex of HMAC-SHA256(secret, timestamp + "." + raw body)>`, within 5 minutes), or
    sent to the call's `report_url`, whose `token` is good for that call only (401 otherwise).
    The same final report twice is harmless; a contradicting one, or one about a call the
    wave no longer waits on (an earlier round, a wave rolled back or failed), is recorded and
    refused (409), changing nothing."""

    serializer_class = DeployCallSerializer
    authentication_classes: list = []
    permission_classes: list = []

    @extend_schema(
        operation_id="waves_report",
        request=ReportSerializer,
        responses={200: DeployCallSerializer, **error_responses(400, 401, 404, 409)},
        auth=[],
        parameters=[
            OpenApiParameter(
                "token", str, required=False, description="The token from the call's report_url."
            ),
            OpenApiParameter(
                signing.TIMESTAMP_HEADER, str, OpenApiParameter.HEADER, required=False
            ),
            OpenApiParameter(
                signing.SIGNATURE_HEADER, str, OpenApiParameter.HEADER, required=False
            ),
        ],
    )
    def post(self, request: Request, id: int) -> Response:
        credentials = reports.ReportCredentials(
            body=request.body,  # read before `data`, which parses it
            timestamp=request.headers.get(signing.TIMESTAMP_HEADER, ""),
            signature=request.headers.get(signing.SIGNATURE_HEADER, ""),
            token=request.query_params.get("token", ""),
        )
        raw = request.data
        # Who is asking comes before what they ask: 401 before any 400.
        reports.deploy_report_authenticate(
            wave_id=id,
            credentials=credentials,
            key=raw.get("key") if isinstance(raw, dict) else None,
        )
        data = validated(ReportSerializer, request)
        call = reports.deploy_report(
            wave_id=id,
            status=data["status"],
            message=data["message"],
            key=str(data["key"]),
            action=data["action"],
            credentials=credentials,
        )
        return Response(DeployCallSerializer(call).data)


class DeployCallListView(ApiMixin, generics.ListAPIView):
    """The calls made to a wave's deploy tool, newest first. Call keys are shown to those who
    may operate the wave, not to viewers."""

    serializer_class = DeployCallSerializer
    ordering = ["-created_at", "-id"]
    ordering_fields = ["created_at", "id"]

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if getattr(self, "swagger_fake_view", False):
            return DeployCall.objects.none()
        wave = get_object_or_404(Wave.objects.select_related("plan__release"), pk=self.kwargs["id"])
        self.wave = wave
        return DeployCall.objects.filter(wave=wave)

    def get_serializer_context(self) -> dict:
        context = super().get_serializer_context()
        wave = getattr(self, "wave", None)
        if wave is not None:
            context["show_keys"] = can(self.request.user, Action.OPERATE_WAVES, wave.plan.release)
        return context


class CheckSerializer(serializers.ModelSerializer):
    wave = serializers.IntegerField(source="wave_id", read_only=True)

    class Meta:
        model = Check
        fields = [
            "id",
            "wave",
            "name",
            "kind",
            "config",
            "interval_seconds",
            "failures_to_fail",
            "consecutive_failures",
            "next_run_at",
            "last_run_at",
        ]
        read_only_fields = fields


class CheckCreateSerializer(serializers.Serializer):
    name = required_text(100)
    kind = serializers.ChoiceField(choices=CheckKind.choices)
    config = serializers.DictField(
        required=False,
        default=dict,
        help_text=(
            "http: {url, expect_status?, expect_version?, version_field?}; metric: {url, source: "
            "json|prometheus, field (json) or query (prometheus), operator: <|<=|>|>=|==, threshold}."
        ),
    )
    interval_seconds = serializers.IntegerField(min_value=1, max_value=86400, default=60)
    failures_to_fail = serializers.IntegerField(min_value=1, max_value=100, default=3)


class CheckListView(ApiMixin, generics.ListAPIView):
    """A wave's verification checks."""

    serializer_class = CheckSerializer
    write_actions = {"POST": Action.PLAN_ROLLOUT}
    ordering = ["id"]
    ordering_fields = ["id"]

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if getattr(self, "swagger_fake_view", False):
            return Check.objects.none()
        wave = get_object_or_404(Wave, pk=self.kwargs["id"])
        return Check.objects.filter(wave=wave)

    @extend_schema(
        request=CheckCreateSerializer,
        responses={201: CheckSerializer, **error_responses(400, 409)},
    )
    def post(self, request: Request, id: int) -> Response:
        data = validated(CheckCreateSerializer, request)
        check = services.check_add(wave_id=id, actor=request.user, **data)
        return Response(CheckSerializer(check).data, status=status.HTTP_201_CREATED)


class CheckResultSerializer(serializers.ModelSerializer):
    check_id = serializers.IntegerField(source="wave_check_id", read_only=True)
    wave = serializers.IntegerField(source="wave_id", read_only=True)

    class Meta:
        model = CheckResult
        fields = ["id", "check_id", "wave", "at", "ok", "value", "detail"]
        read_only_fields = fields


class CheckResultListView(ApiMixin, generics.ListAPIView):
    """What a wave's checks saw, newest first: the evidence behind each verdict."""

    serializer_class = CheckResultSerializer
    ordering = ["-at", "-id"]
    ordering_fields = ["at", "id"]

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if getattr(self, "swagger_fake_view", False):
            return CheckResult.objects.none()
        wave = get_object_or_404(Wave, pk=self.kwargs["id"])
        return CheckResult.objects.filter(wave=wave)


class CheckConfirmSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    note = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, default="", trim_whitespace=False
    )


class CheckConfirmView(ApiView):
    """An operator's verdict on a manual check."""

    serializer_class = CheckSerializer
    write_actions = {"POST": Action.OPERATE_WAVES}

    @extend_schema(
        operation_id="checks_confirm",
        request=CheckConfirmSerializer,
        responses={200: CheckSerializer, **error_responses(400, 409)},
    )
    def post(self, request: Request, id: int) -> Response:
        data = validated(CheckConfirmSerializer, request)
        operations.check_confirm(check_id=id, ok=data["ok"], note=data["note"], actor=request.user)
        return Response(CheckSerializer(get_object_or_404(Check, pk=id)).data)


class WaveRequirementSerializer(serializers.Serializer):
    role = serializers.SlugField(max_length=32)
    count = serializers.IntegerField(min_value=0, max_value=50)


class WaveRequirementView(ApiView):
    """A wave's own sign-off requirement, e.g. 1 × business_owner before prod-eu (count 0 removes it)."""

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
        services.wave_requirement_set(wave_id=id, actor=request.user, **data)
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
        from apps.signoffs.models import SignoffRequirement

        return [
            {"role": role, "count": count}
            for role, count in SignoffRequirement.objects.filter(wave_id=wave_id)
            .order_by("role__slug")
            .values_list("role__slug", "count")
        ]


class ApplyStrategySerializer(serializers.Serializer):
    strategy = serializers.ChoiceField(choices=Strategy.choices)
    environments = serializers.ListField(child=id_field(), min_length=1, max_length=50)


class ApplyStrategyView(ApiView):
    """Set the strategy and replace the plan's waves with its defaults for these environments."""

    serializer_class = WaveSerializer
    queryset = Release.objects.none()
    pagination_class = None  # it answers the plan's waves, all of them, as a plain list
    write_actions = {"POST": Action.PLAN_ROLLOUT}

    @extend_schema(
        operation_id="releases_rollout_plan_apply_strategy",
        request=ApplyStrategySerializer,
        responses={200: WaveSerializer(many=True), **error_responses(400, 409)},
    )
    def post(self, request: Request, release_id: int) -> Response:
        data = validated(ApplyStrategySerializer, request)
        waves = services.plan_apply_strategy(
            release_id=release_id,
            strategy=data["strategy"],
            environment_ids=data["environments"],
            actor=request.user,
        )
        return Response(
            WaveSerializer(
                WAVES.filter(pk__in=[w.pk for w in waves]).order_by("position"), many=True
            ).data
        )


class DryRunLineSerializer(serializers.Serializer):
    wave = serializers.IntegerField(allow_null=True)
    name = serializers.CharField()
    environment = serializers.CharField()
    time_zone = serializers.CharField()
    planned_start = serializers.DateTimeField(allow_null=True)
    earliest_start = serializers.DateTimeField(allow_null=True)
    earliest_start_local = serializers.CharField(allow_null=True)
    warnings = serializers.ListField(child=serializers.CharField())


class ProposedWaveSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    environment = id_field()
    planned_start_local = serializers.CharField(
        max_length=40, required=False, allow_null=True, allow_blank=True
    )
    bake_minutes = serializers.IntegerField(min_value=0, max_value=60 * 24 * 14, default=30)


class DryRunProposalSerializer(serializers.Serializer):
    waves = ProposedWaveSerializer(many=True, allow_empty=False, max_length=100)


class DryRunView(ApiView):
    """When each wave could start at the earliest, given deployment windows, freezes and the
    bake time of the wave before it; with a warning wherever a wave is pushed later. GET: the
    saved plan. POST: waves not saved yet."""

    serializer_class = DryRunLineSerializer
    queryset = Release.objects.none()
    pagination_class = None  # one line per wave: the whole plan, never paged
    filter_backends: list = []
    write_actions = {"POST": Action.VIEW}

    @extend_schema(
        operation_id="releases_rollout_plan_dry_run",
        responses={200: DryRunLineSerializer(many=True)},
    )
    def get(self, request: Request, release_id: int) -> Response:
        lines = dryrun.plan_dry_run(release_id=release_id, actor=request.user)
        return Response(DryRunLineSerializer(lines, many=True).data)

    @extend_schema(
        operation_id="releases_rollout_plan_dry_run_proposal",
        request=DryRunProposalSerializer,
        responses={200: DryRunLineSerializer(many=True), **error_responses(400)},
    )
    def post(self, request: Request, release_id: int) -> Response:
        get_object_or_404(Release, pk=release_id)
        data = validated(DryRunProposalSerializer, request)
        lines = dryrun.plan_dry_run_proposal(
            waves=[dict(w) for w in data["waves"]], actor=request.user, release_id=release_id
        )
        return Response(DryRunLineSerializer(lines, many=True).data)
