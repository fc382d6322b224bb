"""Sign-off endpoints: a release's policy, and the verdicts approvers give."""

from typing import Any, cast

from django.contrib.auth.models import User
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.permissions import Action
from apps.core.api import ApiMixin, ApiView, UserRefSerializer, error_responses, validated
from apps.releases.api import ReleaseScopedMixin
from apps.releases.models import Release
from apps.stakeholders.models import StakeholderRole

from . import services
from .models import Decision, SignOff, SignoffRequirement


class RequirementSerializer(serializers.Serializer):
    role = serializers.SlugField(max_length=32)
    count = serializers.IntegerField(min_value=1, max_value=50, default=1)


class PolicySerializer(serializers.Serializer):
    requirements = RequirementSerializer(many=True, max_length=50)  # type: ignore[call-arg]  # ListSerializer's max_length; the stubs lack it
    expiry_days = serializers.IntegerField(
        min_value=1,
        max_value=3650,
        allow_null=True,
        required=False,
        help_text="A sign-off older than this many days no longer counts.",
    )

    def validate_requirements(self, requirements: list[dict[str, Any]]) -> list[dict[str, Any]]:
        roles = [r["role"] for r in requirements]
        twice = next((role for role in roles if roles.count(role) > 1), None)
        if twice is not None:
            raise serializers.ValidationError(f"Role {twice!r} is named twice.")
        return requirements


def _policy(release: Release) -> dict[str, Any]:
    requirements = (
        SignoffRequirement.objects.filter(release=release, wave__isnull=True)
        .order_by("role__slug")
        .values_list("role__slug", "count")
    )
    return {
        "requirements": [{"role": role, "count": count} for role, count in requirements],
        "expiry_days": release.signoff_expiry_days,
    }


class PolicyView(ApiView):
    """The release's sign-off policy: N approvals from role R, and an optional expiry."""

    serializer_class = PolicySerializer
    write_actions = {"PUT": Action.SET_POLICY}

    @extend_schema(operation_id="releases_signoff_policy_retrieve")
    def get(self, request: Request, release_id: int) -> Response:
        return Response(_policy(get_object_or_404(Release, pk=release_id)))

    @extend_schema(
        operation_id="releases_signoff_policy_set",
        request=PolicySerializer,
        responses={200: PolicySerializer, **error_responses(400, 409)},
        description="Replace the policy. It is fixed once the release is rolling out (409).",
    )
    def put(self, request: Request, release_id: int) -> Response:
        data = validated(PolicySerializer, request)
        services.policy_set(
            release_id=release_id,
            requirements=[
                services.Requirement(role=r["role"], count=r["count"]) for r in data["requirements"]
            ],
            expiry_days=data.get("expiry_days"),
            actor=cast(User, request.user),
        )
        return Response(_policy(Release.objects.get(pk=release_id)))


class SignOffSerializer(serializers.ModelSerializer):
    signer = UserRefSerializer(read_only=True)
    role: "serializers.SlugRelatedField[StakeholderRole]" = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    current = serializers.SerializerMethodField(
        help_text="Given for today's content and not expired: it counts for the gate."
    )

    class Meta:
        model = SignOff
        fields = [
            "id",
            "release",
            "signer",
            "role",
            "decision",
            "comment",
            "fingerprint",
            "current",
            "wave",
            "created_at",
        ]
        read_only_fields = fields
        extra_kwargs = {"wave": {"help_text": "Set for a verdict on one wave's own sign-off."}}

    def get_current(self, signoff: SignOff) -> bool:
        release = signoff.release
        if signoff.fingerprint != release.fingerprint:
            return False
        days = release.signoff_expiry_days
        return days is None or (timezone.now() - signoff.created_at).days < days


class SignOffCreateSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=Decision.choices)
    comment = serializers.CharField(
        max_length=5000, required=False, allow_blank=True, help_text="Required to reject."
    )
    role = serializers.SlugField(
        max_length=32, required=False, help_text="Needed only when you hold several roles here."
    )


SIGNOFFS = SignOff.objects.select_related("release", "signer", "role")


class SignOffListView(ApiMixin, ReleaseScopedMixin, generics.ListCreateAPIView):
    """Verdicts on a release, newest first. Approvers named by the policy approve or reject."""

    serializer_class = SignOffSerializer
    filterset_fields = ["decision"]
    ordering_fields = ["created_at", "id"]
    ordering = ["-created_at", "-id"]
    write_actions = {"POST": Action.SIGN_OFF}

    queryset = SIGNOFFS

    @extend_schema(
        request=SignOffCreateSerializer,
        responses={
            201: OpenApiResponse(SignOffSerializer, description="The verdict is recorded."),
            200: OpenApiResponse(
                SignOffSerializer,
                description="The same verdict on this content was given before: that sign-off.",
            ),
            **error_responses(400, 409),
        },
        description="Approve or reject the release's current content. Repeating the same "
        "verdict answers 200 with the existing sign-off; changing it is refused (409).",
    )
    def post(self, request: Request, release_id: int) -> Response:
        data = validated(SignOffCreateSerializer, request)
        asked_at = timezone.now()
        signoff = services.signoff_give(
            release_id=release_id, actor=cast(User, request.user), **data
        )
        # A sign-off recorded before this request is the earlier, identical verdict.
        new = signoff.created_at >= asked_at
        return Response(
            SignOffSerializer(SIGNOFFS.get(pk=signoff.pk)).data,
            status=status.HTTP_201_CREATED if new else status.HTTP_200_OK,
        )


class SignOffDetailView(ApiMixin, generics.RetrieveAPIView):
    queryset = SIGNOFFS
    serializer_class = SignOffSerializer
    lookup_url_kwarg = "id"
