"""Stakeholder endpoints: the roles people can hold, and who holds them on a release."""

from typing import cast

from django.contrib.auth.models import User
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.permissions import Action
from apps.core.api import (
    ApiMixin,
    UserRefSerializer,
    error_responses,
    id_field,
    no_content,
    validated,
)
from apps.releases.api import ReleaseScopedMixin

from . import services
from .models import Stakeholder, StakeholderRole


class StakeholderRoleSerializer(serializers.ModelSerializer):
    class Meta:
        model = StakeholderRole
        fields = ["id", "slug", "name"]
        read_only_fields = fields


class StakeholderRoleListView(ApiMixin, generics.ListAPIView):
    """Roles a person can hold on a release (business_owner, qa …); administrators add more."""

    queryset = StakeholderRole.objects.all()
    serializer_class = StakeholderRoleSerializer
    ordering_fields = ["slug"]


class StakeholderSerializer(serializers.ModelSerializer):
    user = UserRefSerializer(read_only=True)
    role: "serializers.SlugRelatedField[StakeholderRole]" = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )

    class Meta:
        model = Stakeholder
        fields = ["id", "release", "user", "role", "created_at"]
        read_only_fields = fields


class StakeholderCreateSerializer(serializers.Serializer):
    user = id_field()
    role = serializers.SlugField(max_length=32, help_text="A stakeholder role slug.")


STAKEHOLDERS = Stakeholder.objects.select_related("user", "role")


class StakeholderListView(ApiMixin, ReleaseScopedMixin, generics.ListCreateAPIView):
    """People with a role on a release; the sign-off policy counts approvals by these roles."""

    serializer_class = StakeholderSerializer
    filterset_fields = ["user"]
    ordering_fields = ["id", "created_at"]
    write_actions = {"POST": Action.MANAGE_STAKEHOLDERS}

    queryset = STAKEHOLDERS

    @extend_schema(
        request=StakeholderCreateSerializer,
        responses={201: StakeholderSerializer, **error_responses(400, 409)},
    )
    def post(self, request: Request, release_id: int) -> Response:
        data = validated(StakeholderCreateSerializer, request)
        stakeholder = services.stakeholder_add(
            release_id=release_id,
            user_id=data["user"],
            role=data["role"],
            actor=cast(User, request.user),
        )
        return Response(
            StakeholderSerializer(STAKEHOLDERS.get(pk=stakeholder.pk)).data,
            status=status.HTTP_201_CREATED,
        )


class StakeholderDetailView(ApiMixin, generics.RetrieveAPIView):
    queryset = STAKEHOLDERS
    serializer_class = StakeholderSerializer
    lookup_url_kwarg = "id"
    write_actions = {"DELETE": Action.MANAGE_STAKEHOLDERS}

    @extend_schema(responses={204: None, **error_responses(409)})
    def delete(self, request: Request, id: int) -> Response:
        services.stakeholder_remove(stakeholder_id=id, actor=cast(User, request.user))
        return no_content()
