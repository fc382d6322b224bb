"""People's own API tokens, who they are, and who can be named on releases."""

from typing import cast

from django.contrib.auth.models import User
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import ApiMixin, ApiView, no_content, validated

from . import services
from .api_guards import is_read_only_token
from .models import ApiToken
from .people_api import UserSerializer
from .permissions import user_roles

# Tokens


class ApiTokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "read_only", "created_at", "last_used_at"]
        read_only_fields = fields


class ApiTokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    read_only = serializers.BooleanField(default=False)  # type: ignore[assignment]  # a field, not Field.read_only


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    key = serializers.CharField(
        read_only=True, help_text="The secret; shown only now. Send it as `Token <key>`."
    )

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "key"]
        read_only_fields = fields


class TokenListView(ApiMixin, generics.ListAPIView):
    """Your own API tokens. The key of a token is shown once, in the answer that creates it."""

    serializer_class = ApiTokenSerializer
    read_action = None
    write_actions = {"POST": None}

    def get_queryset(self) -> QuerySet[ApiToken]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return ApiToken.objects.none()
        return ApiToken.objects.filter(user=cast(User, self.request.user))

    ordering_fields = ["created_at", "name"]

    @extend_schema(
        operation_id="tokens_create",
        request=ApiTokenCreateSerializer,
        responses={201: ApiTokenCreatedSerializer},
    )
    def post(self, request: Request) -> Response:
        data = validated(ApiTokenCreateSerializer, request)
        token, key = services.api_token_create(actor=cast(User, request.user), **data)
        body = {**ApiTokenSerializer(token).data, "key": key}
        return Response(body, status=status.HTTP_201_CREATED)


class TokenDetailView(ApiView):
    serializer_class = ApiTokenSerializer
    read_action = None
    write_actions = {"DELETE": None}

    def get_queryset(self) -> QuerySet[ApiToken]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return ApiToken.objects.none()
        return ApiToken.objects.filter(user=cast(User, self.request.user))

    @extend_schema(operation_id="tokens_retrieve")
    def get(self, request: Request, id: int) -> Response:
        return Response(ApiTokenSerializer(self.get_object()).data)

    @extend_schema(operation_id="tokens_revoke", responses={204: None})
    def delete(self, request: Request, id: int) -> Response:
        services.api_token_revoke(token_id=id, actor=cast(User, request.user))
        return no_content()

    lookup_url_kwarg = "id"


# People (the directory and its changes are in people_api)


class MeView(ApiView):
    """Who the credentials belong to, with their roles; any signed-in person may ask."""

    serializer_class = UserSerializer
    read_action = None

    @extend_schema(
        operation_id="me_retrieve",
        responses={
            200: inline_serializer(
                "Me",
                {
                    "user": UserSerializer(),
                    "is_superuser": serializers.BooleanField(),
                    "read_only_token": serializers.BooleanField(),
                },
            )
        },
    )
    def get(self, request: Request) -> Response:
        user = cast(User, request.user)  # the view's permission lets only people in
        roles = sorted(user_roles(user))
        data = {
            "user": {
                "id": user.pk,
                "username": user.get_username(),
                "first_name": user.first_name,
                "last_name": user.last_name,
                "is_active": user.is_active,
                "roles": roles,
            },
            "is_superuser": user.is_superuser,
            "read_only_token": is_read_only_token(request),
        }
        return Response(data)
