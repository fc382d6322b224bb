"""Applications: the products releases belong to."""

from typing import cast

from django.contrib.auth.models import User
from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.permissions import Action
from apps.core.api import ApiMixin, error_responses, validated

from .. import services
from ..models import (
    Application,
)

# Applications


class ApplicationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Application
        fields = ["id", "name", "slug", "description", "team", "created_at", "updated_at"]
        read_only_fields = fields


class ApplicationWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    slug = serializers.SlugField(max_length=64)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    team = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        help_text="The team whose roles act on this application's releases; null for none. "
        "Set by administrators.",
    )


class ApplicationListView(ApiMixin, generics.ListCreateAPIView):
    """Applications releases belong to (CRM, ERP …)."""

    queryset = Application.objects.all()
    serializer_class = ApplicationSerializer
    write_actions = {"POST": Action.CREATE_RELEASE}
    filterset_fields = ["slug"]
    ordering_fields = ["name", "slug", "created_at"]

    @extend_schema(
        request=ApplicationWriteSerializer,
        responses={201: ApplicationSerializer, **error_responses(400)},
    )
    def post(self, request: Request) -> Response:
        data = validated(ApplicationWriteSerializer, request)
        actor = cast(User, request.user)
        team = data.pop("team", None)
        with transaction.atomic():  # both or neither
            app = services.application_create(actor=actor, **data)
            if team is not None:
                app = services.application_assign_team(
                    application_id=app.pk, team_id=team, actor=actor
                )
        return Response(ApplicationSerializer(app).data, status=status.HTTP_201_CREATED)


class ApplicationDetailView(ApiMixin, generics.RetrieveAPIView):
    queryset = Application.objects.all()
    serializer_class = ApplicationSerializer
    lookup_url_kwarg = "id"
    write_actions = {"PATCH": Action.CREATE_RELEASE}

    @extend_schema(
        request=ApplicationWriteSerializer(partial=True),
        responses={200: ApplicationSerializer, **error_responses(400)},
    )
    def patch(self, request: Request, id: int) -> Response:
        data = validated(ApplicationWriteSerializer, request, partial=True)
        actor = cast(User, request.user)
        with transaction.atomic():  # both or neither
            if "team" in data:
                services.application_assign_team(
                    application_id=id, team_id=data.pop("team"), actor=actor
                )
            app = services.application_update(application_id=id, actor=actor, **data)
        return Response(ApplicationSerializer(app).data)
