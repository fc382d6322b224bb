"""A release's rollout plan: its strategy, the strategy's default waves, and the dry run."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.permissions import Action
from apps.core.api import ApiView, error_responses, id_field, validated
from apps.releases.models import Release

from .. import dryrun, services
from ..forms import MAX_BAKE_MINUTES
from ..models import RolloutPlan, Strategy
from .shared import LocalTimeField, person
from .waves import WAVES, WaveSerializer


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
            release_id=release_id, strategy=data["strategy"], actor=person(request)
        )
        return Response(PlanSerializer(plan).data)


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
            actor=person(request),
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
    planned_start_local = LocalTimeField(required=False)
    bake_minutes = serializers.IntegerField(min_value=0, max_value=MAX_BAKE_MINUTES, default=30)


class DryRunProposalSerializer(serializers.Serializer):
    waves = ProposedWaveSerializer(many=True, allow_empty=False, max_length=100)  # type: ignore[call-arg]  # ListSerializer's max_length; the stubs lack it


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
        lines = dryrun.plan_dry_run(release_id=release_id, actor=person(request))
        return Response(DryRunLineSerializer(lines, many=True).data)

    @extend_schema(
        operation_id="releases_rollout_plan_dry_run_proposal",
        request=DryRunProposalSerializer,
        responses={200: DryRunLineSerializer(many=True), **error_responses(400)},
    )
    def post(self, request: Request, release_id: int) -> Response:
        get_object_or_404(Release, pk=release_id)
        data = validated(DryRunProposalSerializer, request)
        proposal = [
            dryrun.ProposedWave(
                environment_id=w["environment"],
                name=w.get("name", ""),
                planned_start_local=w.get("planned_start_local"),
                bake_minutes=w["bake_minutes"],
            )
            for w in data["waves"]
        ]
        lines = dryrun.plan_dry_run_proposal(
            waves=proposal, actor=person(request), release_id=release_id
        )
        return Response(DryRunLineSerializer(lines, many=True).data)
