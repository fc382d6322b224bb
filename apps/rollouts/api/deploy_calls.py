"""Deploy calls: what was sent to a wave's deploy tool, and the tool's reports on them."""

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.permissions import Action, can
from apps.core import signing
from apps.core.api import ApiMixin, ApiView, error_responses, validated

from .. import reports
from ..models import DeployAction, DeployCall, ReportStatus, Wave


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
    message = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
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
        key = raw.get("key") if isinstance(raw, dict) else None
        # Who is asking comes before what they ask: 401 before any 400.
        reports.deploy_report_authenticate(
            wave_id=id, credentials=credentials, key=key if isinstance(key, str) else None
        )
        data = validated(ReportSerializer, request)
        call = reports.deploy_report(
            wave_id=id,
            status=data["status"],
            message=data["message"],
            key=data["key"],
            action=data["action"],
            credentials=credentials,
        )
        return Response(DeployCallSerializer(call).data)


class DeployCallListView(ApiMixin, generics.ListAPIView):
    """The calls made to a wave's deploy tool, newest first. Call keys are shown to those who
    may operate the wave, not to viewers."""

    visible_through = (Wave, "id")  # 404 for a wave of a hidden release

    serializer_class = DeployCallSerializer
    ordering = ["-created_at", "-id"]
    ordering_fields = ["created_at", "id"]

    def get_queryset(self) -> QuerySet[DeployCall]:
        if getattr(self, "swagger_fake_view", False):
            return DeployCall.objects.none()
        wave = get_object_or_404(Wave.objects.select_related("plan__release"), pk=self.kwargs["id"])
        self.wave = wave
        return DeployCall.objects.filter(wave=wave)

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        wave = getattr(self, "wave", None)
        if wave is not None:
            context["show_keys"] = can(self.request.user, Action.OPERATE_WAVES, wave.plan.release)
        return context
