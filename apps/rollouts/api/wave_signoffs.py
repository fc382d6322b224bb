"""A wave's own sign-offs: the verdicts on its requirement (release sign-offs are the
signoffs app's)."""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.permissions import Action
from apps.core.api import ApiMixin, error_responses, validated
from apps.signoffs.api import SIGNOFFS, SignOffCreateSerializer, SignOffSerializer
from apps.signoffs.models import SignOff

from ..models import Wave
from ..wave_signoffs import wave_signoff_give
from .shared import person


class WaveSignOffListView(ApiMixin, generics.ListCreateAPIView):
    """Verdicts on one wave's own sign-off requirement (e.g. 1 × business_owner before
    prod-eu), newest first."""

    visible_through = (Wave, "id")  # 404 for a wave of a hidden release

    serializer_class = SignOffSerializer
    filterset_fields = ["decision"]
    ordering_fields = ["created_at", "id"]
    ordering = ["-created_at", "-id"]
    write_actions = {"POST": Action.SIGN_OFF}

    def get_queryset(self) -> QuerySet[SignOff]:
        if getattr(self, "swagger_fake_view", False):
            return SIGNOFFS.none()
        wave = get_object_or_404(Wave, pk=self.kwargs["id"])
        return SIGNOFFS.filter(wave=wave)

    @extend_schema(
        operation_id="waves_signoffs_create",
        request=SignOffCreateSerializer,
        responses={
            201: SignOffSerializer,
            200: SignOffSerializer,
            **error_responses(400, 403, 404, 409),
        },
        description="Approve or reject a wave's own sign-off: a stakeholder of a role the "
        "wave's requirement names (never the release's owner or creator), while the release "
        "rolls out and before the wave starts, bound to the release's current content. A "
        "release approval does not count for a wave. 201 for a new verdict; repeating the same "
        "verdict answers the existing one with 200; changing it is refused (409).",
    )
    def post(self, request: Request, id: int) -> Response:
        data = validated(SignOffCreateSerializer, request)
        signoff, created = wave_signoff_give(wave_id=id, actor=person(request), **data)
        return Response(
            SignOffSerializer(SIGNOFFS.get(pk=signoff.pk)).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )
