"""People, teams and role grants in the API. Anyone with a role reads them; administrators
change them, through apps.accounts.people, so refusals read as they do on the pages."""

from typing import Any, cast

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import (
    ApiMixin,
    ApiView,
    IdFilter,
    error_responses,
    id_field,
    no_content,
    validated,
)

from . import people
from .models import GrantSource, RoleGrant, Team
from .permissions import Action, is_administrator, user_roles
from .roles import Role, tier_choices


def _tier_choices(field: serializers.Field) -> None:
    """Tiers are registered by apps.environments once the apps are loaded, after this module's
    classes are made: each serializer fills them in when it is made."""
    assert isinstance(field, serializers.ListField)
    assert isinstance(field.child, serializers.ChoiceField)
    field.child.choices = tier_choices()


class TeamRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()


class GrantUserSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    is_active = serializers.BooleanField()


class GrantSerializer(serializers.ModelSerializer):
    user = GrantUserSerializer(read_only=True)
    team = TeamRefSerializer(read_only=True, allow_null=True, help_text="None: organisation-wide.")
    tiers = serializers.ListField(
        child=serializers.ChoiceField(choices=[]),
        read_only=True,
        help_text="Environment tiers the role is limited to; empty means every tier.",
    )
    source = serializers.ChoiceField(  # type: ignore[assignment]  # a field, not Field.source
        choices=GrantSource.choices,
        read_only=True,
        help_text="`manual` (granted here) or `sso` (from the identity provider's groups).",
    )

    class Meta:
        model = RoleGrant
        fields = ["id", "user", "role", "team", "tiers", "source", "granted_at"]
        read_only_fields = fields

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        _tier_choices(fields["tiers"])
        return fields


class UserGrantSerializer(GrantSerializer):
    class Meta(GrantSerializer.Meta):
        fields = ["id", "role", "team", "tiers", "source", "granted_at"]
        read_only_fields = fields


class UserSerializer(serializers.ModelSerializer):
    roles = serializers.SerializerMethodField(help_text="Every role held, in any team.")

    class Meta:
        model = get_user_model()
        fields = ["id", "username", "first_name", "last_name", "is_active", "roles"]
        read_only_fields = fields

    def get_roles(self, user: Any) -> list[str]:
        return sorted(user_roles(user))


class PersonSerializer(UserSerializer):
    grants = UserGrantSerializer(source="role_grants", many=True, read_only=True)

    class Meta(UserSerializer.Meta):
        fields = [*UserSerializer.Meta.fields, "email", "last_login", "date_joined", "grants"]
        read_only_fields = fields


class PersonCreateSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    email = serializers.EmailField(max_length=254)
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    password = serializers.CharField(
        max_length=128,
        required=False,
        write_only=True,
        trim_whitespace=False,
        help_text=(
            "Optional. Without it the person cannot sign in with a password until they choose "
            "one through the set-password link (`users_set_password_link`)."
        ),
    )


class PersonUpdateSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254, required=False)
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    password = serializers.CharField(
        max_length=128,
        required=False,
        write_only=True,
        trim_whitespace=False,
        help_text="A new password set by the administrator; the person's sessions end.",
    )


def _people() -> QuerySet:
    grants = RoleGrant.objects.select_related("team")
    return get_user_model().objects.prefetch_related(Prefetch("role_grants", queryset=grants))


def _people_for(request: Request) -> QuerySet:
    """Administrators see deactivated people too (when they ask for them); others only those
    who can be named on a release."""
    found = _people()
    if not is_administrator(request.user):
        return found.filter(is_active=True)
    return found


class UserFilter(filters.FilterSet):
    username = filters.CharFilter()
    is_active = filters.BooleanFilter(
        help_text="Administrators only: `false` lists deactivated people. Others see active ones."
    )


class UserListView(ApiMixin, generics.ListAPIView):
    """People who can be named as owners and stakeholders; administrators add people here."""

    serializer_class = UserSerializer
    filterset_class = UserFilter
    ordering_fields = ["username", "id"]
    ordering = ["username"]
    write_actions = {"POST": Action.MANAGE_PEOPLE}

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return get_user_model().objects.none()
        found = _people_for(self.request)
        if "is_active" not in self.request.query_params:
            found = found.filter(is_active=True)
        return found

    @extend_schema(
        operation_id="users_create",
        request=PersonCreateSerializer,
        responses={201: PersonSerializer, **error_responses(400)},
    )
    def post(self, request: Request) -> Response:
        data = validated(PersonCreateSerializer, request)
        user = people.user_create(actor=cast(User, request.user), **data)
        return Response(PersonSerializer(_people().get(pk=user.pk)).data, status=201)


class UserDetailView(ApiView):
    """One person with their e-mail address and every role they hold, where."""

    serializer_class = PersonSerializer
    lookup_url_kwarg = "id"
    write_actions = {"PATCH": Action.MANAGE_PEOPLE}

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return get_user_model().objects.none()
        return _people_for(self.request)

    @extend_schema(operation_id="users_retrieve")
    def get(self, request: Request, id: int) -> Response:
        return Response(PersonSerializer(self.get_object()).data)

    @extend_schema(
        operation_id="users_partial_update",
        request=PersonUpdateSerializer,
        responses={200: PersonSerializer, **error_responses(400)},
    )
    def patch(self, request: Request, id: int) -> Response:
        data = validated(PersonUpdateSerializer, request)
        actor = cast(User, request.user)
        password = data.pop("password", None)
        with transaction.atomic():  # both changes or neither
            people.user_update(user_id=id, actor=actor, **data)
            if password is not None:
                people.user_set_password(user_id=id, password=password, actor=actor)
        return Response(PersonSerializer(_people().get(pk=id)).data)


class _UserActionView(ApiView):
    serializer_class = PersonSerializer
    write_actions = {"POST": Action.MANAGE_PEOPLE}


class UserDeactivateView(_UserActionView):
    @extend_schema(
        operation_id="users_deactivate",
        request=None,
        responses={200: PersonSerializer, **error_responses(400)},
    )
    def post(self, request: Request, id: int) -> Response:
        people.user_deactivate(user_id=id, actor=cast(User, request.user))
        return Response(PersonSerializer(_people().get(pk=id)).data)


class UserReactivateView(_UserActionView):
    @extend_schema(
        operation_id="users_reactivate",
        request=None,
        responses={200: PersonSerializer, **error_responses(400)},
    )
    def post(self, request: Request, id: int) -> Response:
        people.user_reactivate(user_id=id, actor=cast(User, request.user))
        return Response(PersonSerializer(_people().get(pk=id)).data)


class UserSetPasswordLinkView(_UserActionView):
    @extend_schema(
        operation_id="users_set_password_link",
        request=None,
        responses={204: None, **error_responses(400)},
    )
    def post(self, request: Request, id: int) -> Response:
        people.user_send_set_password_link(user_id=id, actor=cast(User, request.user))
        return no_content()


# Teams


class TeamSerializer(serializers.ModelSerializer):
    applications = serializers.SerializerMethodField(help_text="The applications it owns.")

    class Meta:
        model = Team
        fields = ["id", "name", "slug", "applications"]
        read_only_fields = fields

    @extend_schema_field(TeamRefSerializer(many=True))
    def get_applications(self, team: Team) -> list[dict[str, Any]]:
        return [{"id": a.pk, "slug": a.slug, "name": a.name} for a in team.applications.all()]


class TeamWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    slug = serializers.SlugField(
        max_length=64, help_text="A short name; single sign-on group mappings name it."
    )


class TeamUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    slug = serializers.SlugField(max_length=64, required=False)


def _teams() -> QuerySet[Team]:
    return Team.objects.prefetch_related("applications")


class TeamListView(ApiMixin, generics.ListAPIView):
    """Teams own applications; a role held in a team acts on those applications' releases."""

    serializer_class = TeamSerializer
    queryset = _teams()
    filterset_fields = ["slug"]
    ordering_fields = ["name", "slug", "id"]
    ordering = ["name"]
    write_actions = {"POST": Action.MANAGE_PEOPLE}

    @extend_schema(
        operation_id="teams_create",
        request=TeamWriteSerializer,
        responses={201: TeamSerializer, **error_responses(400)},
    )
    def post(self, request: Request) -> Response:
        data = validated(TeamWriteSerializer, request)
        team = people.team_create(actor=cast(User, request.user), **data)
        return Response(TeamSerializer(_teams().get(pk=team.pk)).data, status=201)


class TeamDetailView(ApiView):
    serializer_class = TeamSerializer
    queryset = _teams()
    lookup_url_kwarg = "id"
    write_actions = {"PATCH": Action.MANAGE_PEOPLE}

    @extend_schema(operation_id="teams_retrieve")
    def get(self, request: Request, id: int) -> Response:
        return Response(TeamSerializer(self.get_object()).data)

    @extend_schema(
        operation_id="teams_partial_update",
        request=TeamUpdateSerializer,
        responses={200: TeamSerializer, **error_responses(400)},
    )
    def patch(self, request: Request, id: int) -> Response:
        data = validated(TeamUpdateSerializer, request)
        people.team_update(team_id=id, actor=cast(User, request.user), **data)
        return Response(TeamSerializer(_teams().get(pk=id)).data)


# Role grants


class GrantWriteSerializer(serializers.Serializer):
    user = id_field(help_text="The person's id.")
    role = serializers.ChoiceField(choices=Role.choices)
    tiers = serializers.ListField(
        child=serializers.ChoiceField(choices=[]),
        required=False,
        max_length=3,
        help_text="Operators only: the environment tiers the role is limited to.",
    )

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        _tier_choices(fields["tiers"])
        return fields


def _grants() -> QuerySet[RoleGrant]:
    return RoleGrant.objects.select_related("user", "team").order_by("team__name", "role", "id")


def _grant_created(grant: RoleGrant) -> Response:
    return Response(
        GrantSerializer(_grants().get(pk=grant.pk)).data, status=status.HTTP_201_CREATED
    )


class GrantFilter(filters.FilterSet):
    user = IdFilter(field_name="user_id")
    team = IdFilter(field_name="team_id")
    role = filters.ChoiceFilter(choices=Role.choices)
    org_wide = filters.BooleanFilter(
        field_name="team", lookup_expr="isnull", help_text="Only organisation-wide grants."
    )


class GrantListView(ApiMixin, generics.ListAPIView):
    """Every role every person holds. POST grants one organisation-wide; team roles are granted
    at /teams/{id}/members/."""

    serializer_class = GrantSerializer
    queryset = _grants()
    filterset_class = GrantFilter
    ordering_fields = ["granted_at", "id"]
    write_actions = {"POST": Action.MANAGE_PEOPLE}

    @extend_schema(
        operation_id="grants_create",
        request=GrantWriteSerializer,
        responses={200: GrantSerializer, 201: GrantSerializer, **error_responses(400)},
    )
    def post(self, request: Request) -> Response:
        data = validated(GrantWriteSerializer, request)
        return _grant(request, data, team_id=None)


def _grant(request: Request, data: dict[str, Any], *, team_id: int | None) -> Response:
    held = RoleGrant.objects.filter(user_id=data["user"], role=data["role"])
    held = held.filter(team__isnull=True) if team_id is None else held.filter(team_id=team_id)
    before = held.exists()
    grant = people.grant_role(
        user_id=data["user"],
        role=data["role"],
        tiers=data.get("tiers", ()),
        team_id=team_id,
        actor=cast(User, request.user),
    )
    response = _grant_created(grant)
    if before:
        response.status_code = status.HTTP_200_OK
    return response


class GrantDetailView(ApiView):
    serializer_class = GrantSerializer
    queryset = _grants()
    lookup_url_kwarg = "id"
    write_actions = {"DELETE": Action.MANAGE_PEOPLE}

    @extend_schema(operation_id="grants_retrieve")
    def get(self, request: Request, id: int) -> Response:
        return Response(GrantSerializer(self.get_object()).data)

    @extend_schema(
        operation_id="grants_revoke",
        responses={204: None, **error_responses(400)},
    )
    def delete(self, request: Request, id: int) -> Response:
        people.revoke_role(grant_id=id, actor=cast(User, request.user))
        return no_content()


class TeamMemberListView(ApiMixin, generics.ListAPIView):
    """The roles held in one team, one row per person and role."""

    serializer_class = GrantSerializer
    filterset_class = GrantFilter

    def get_queryset(self) -> QuerySet[RoleGrant]:
        if getattr(self, "swagger_fake_view", False):
            return RoleGrant.objects.none()
        team = generics.get_object_or_404(Team, pk=self.kwargs["id"])
        return _grants().filter(team=team)

    write_actions = {"POST": Action.MANAGE_PEOPLE}

    @extend_schema(
        operation_id="teams_members_grant",
        request=GrantWriteSerializer,
        responses={200: GrantSerializer, 201: GrantSerializer, **error_responses(400)},
    )
    def post(self, request: Request, id: int) -> Response:
        data = validated(GrantWriteSerializer, request)
        return _grant(request, data, team_id=id)


class TeamMemberDetailView(ApiView):
    serializer_class = GrantSerializer

    write_actions = {"DELETE": Action.MANAGE_PEOPLE}

    @extend_schema(
        operation_id="teams_members_revoke",
        responses={204: None, **error_responses(400)},
    )
    def delete(self, request: Request, id: int, grant_id: int) -> Response:
        people.revoke_role(grant_id=grant_id, team_id=id, actor=cast(User, request.user))
        return no_content()
