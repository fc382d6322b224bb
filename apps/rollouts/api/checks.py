"""A wave's verification checks: add them, read what they saw, confirm a manual one."""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.permissions import Action
from apps.core.api import ApiMixin, ApiView, error_responses, validated

from .. import operations, services
from ..models import Check, CheckKind, CheckResult, Wave
from .shared import person


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
    name = serializers.CharField(max_length=100)
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

    visible_through = (Wave, "id")  # 404 for a wave of a hidden release

    serializer_class = CheckSerializer
    write_actions = {"POST": Action.PLAN_ROLLOUT}
    ordering = ["id"]
    ordering_fields = ["id"]

    def get_queryset(self) -> QuerySet[Check]:
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
        check = services.check_add(wave_id=id, actor=person(request), **data)
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

    visible_through = (Wave, "id")  # 404 for a wave of a hidden release

    serializer_class = CheckResultSerializer
    ordering = ["-at", "-id"]
    ordering_fields = ["at", "id"]

    def get_queryset(self) -> QuerySet[CheckResult]:
        if getattr(self, "swagger_fake_view", False):
            return CheckResult.objects.none()
        wave = get_object_or_404(Wave, pk=self.kwargs["id"])
        return CheckResult.objects.filter(wave=wave)


class CheckConfirmSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


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
        operations.check_confirm(
            check_id=id, ok=data["ok"], note=data["note"], actor=person(request)
        )
        return Response(CheckSerializer(get_object_or_404(Check, pk=id)).data)
