"""Releases and their phase moves. (Applications and the status document have modules of
their own.)"""

from typing import Any, cast

from django.contrib.auth.models import User
from django.db.models import Exists, OuterRef, QuerySet
from django.shortcuts import get_object_or_404
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.permissions import Action
from apps.core.api import (
    ApiMixin,
    ApiView,
    BlockerSerializer,
    DateTimeRangeFilter,
    IdFilter,
    UserRefSerializer,
    error_responses,
    id_field,
    user_ref,
    validated,
)

from .. import services, validators
from ..models import (
    MoveState,
    Phase,
    PhaseMove,
    Release,
)
from .list_page import ReleasePagination
from .shared import ReleaseScopedMixin

# Releases


class ApplicationRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()


class ReleaseSerializer(serializers.ModelSerializer):
    application = ApplicationRefSerializer(read_only=True)
    owner = UserRefSerializer(read_only=True)
    created_by = UserRefSerializer(read_only=True)
    phase = serializers.ChoiceField(choices=Phase.choices, read_only=True)

    class Meta:
        model = Release
        fields = [
            "id",
            "application",
            "name",
            "version",
            "build_ref",
            "scope",
            "owner",
            "created_by",
            "planned_start",
            "planned_end",
            "phase",
            "phase_entered_at",
            "signoff_expiry_days",
            "hypercare_days",
            "hypercare_until",
            "revision",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ReleaseWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    version = serializers.CharField(max_length=64)
    build_ref = serializers.CharField(max_length=200, required=False, allow_blank=True)
    scope = serializers.CharField(max_length=20000, required=False, allow_blank=True)
    owner = id_field(required=False, help_text="The owner's user id; the creator by default.")
    planned_start = serializers.DateTimeField(
        required=False, allow_null=True, validators=[validators.planned_start]
    )
    planned_end = serializers.DateTimeField(
        required=False, allow_null=True, validators=[validators.planned_end]
    )
    signoff_expiry_days = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=3650
    )
    hypercare_days = serializers.IntegerField(required=False, min_value=0, max_value=365)


class ReleaseCreateSerializer(ReleaseWriteSerializer):
    application = id_field()


class ReleaseFilter(filters.FilterSet):
    phase = filters.MultipleChoiceFilter(choices=Phase.choices)
    application = IdFilter(field_name="application_id")
    application_slug = filters.CharFilter(field_name="application__slug")
    owner = IdFilter(field_name="owner_id")
    owner_username = filters.CharFilter(field_name="owner__username")
    environment = IdFilter(
        method="filter_environment", label="Releases with a wave in this environment (id)."
    )
    planned_start = DateTimeRangeFilter()
    planned_end = DateTimeRangeFilter()
    phase_entered_at = DateTimeRangeFilter()
    created_at = DateTimeRangeFilter()
    updated_at = DateTimeRangeFilter()

    class Meta:
        model = Release
        fields: list[str] = []

    def filter_environment(self, queryset: QuerySet, name: str, value: Any) -> QuerySet:
        # Through the release's own relation to its plan's waves: the rollouts app sits above.
        waves_there = Release.objects.filter(
            pk=OuterRef("pk"), rollout_plan__waves__environment_id=value
        )
        return queryset.filter(Exists(waves_there))


# What a release document shows of other rows, read in the release's own query.
RELEASES = Release.objects.select_related("application", "owner", "created_by")


class ReleaseListView(ApiMixin, generics.ListCreateAPIView):
    """Releases, newest first; filter by phase, application, environment, owner and dates."""

    queryset = Release.objects.all()
    serializer_class = ReleaseSerializer
    pagination_class = ReleasePagination
    filterset_class = ReleaseFilter
    ordering_fields = [
        "created_at",
        "updated_at",
        "planned_start",
        "planned_end",
        "phase_entered_at",
        "name",
        "version",
        "id",
    ]
    ordering = ["-created_at", "-id"]
    write_actions = {"POST": Action.CREATE_RELEASE}

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # The paginator gives the page as documents already (ReleasePagination).
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(page)

    @extend_schema(
        request=ReleaseCreateSerializer,
        responses={201: ReleaseSerializer, **error_responses(400)},
    )
    def post(self, request: Request) -> Response:
        data = validated(ReleaseCreateSerializer, request)
        release = services.release_create(
            actor=cast(User, request.user),
            application_id=data.pop("application"),
            owner_id=data.pop("owner", None),
            **data,
        )
        return Response(_release_data(release.pk), status=status.HTTP_201_CREATED)


def _release_data(release_id: int) -> dict[str, Any]:
    return ReleaseSerializer(get_object_or_404(RELEASES, pk=release_id)).data


class ReleaseDetailView(ApiMixin, generics.RetrieveAPIView):
    queryset = RELEASES
    serializer_class = ReleaseSerializer
    lookup_url_kwarg = "id"
    write_actions = {"PATCH": Action.EDIT_RELEASE}

    @extend_schema(
        request=ReleaseWriteSerializer(partial=True),
        responses={200: ReleaseSerializer, **error_responses(400, 409)},
        description="Edit a release. Changing version, build or scope makes earlier sign-offs "
        "stale; content is frozen once the release is rolling out (409).",
    )
    def patch(self, request: Request, id: int) -> Response:
        data = validated(ReleaseWriteSerializer, request, partial=True)
        if "owner" in data:
            data["owner_id"] = data.pop("owner")
        services.release_update(release_id=id, actor=cast(User, request.user), **data)
        return Response(_release_data(id))


# Phase moves


class PhaseMoveSerializer(serializers.ModelSerializer):
    to = serializers.ChoiceField(source="to_phase", choices=Phase.choices, read_only=True)
    from_phase = serializers.ChoiceField(choices=Phase.choices, read_only=True)
    requested_by = user_ref()
    blockers = BlockerSerializer(many=True, read_only=True)

    class Meta:
        model = PhaseMove
        fields = [
            "id",
            "release",
            "from_phase",
            "to",
            "state",
            "reason",
            "override",
            "blockers",
            "requested_by",
            "created_at",
            "processed_at",
        ]
        read_only_fields = fields


class TransitionSerializer(serializers.Serializer):
    to = serializers.ChoiceField(choices=Phase.choices)
    reason = serializers.CharField(
        max_length=2000,
        allow_blank=True,
        default="",
        help_text="Required to cancel, roll back or override.",
    )
    override = serializers.BooleanField(
        required=False, default=False, help_text="Administrators only: pass a blocked gate."
    )


class CurrentPhaseMoveSerializer(PhaseMoveSerializer):
    id = serializers.IntegerField(read_only=True, allow_null=True)


def _current_phase_move(release_id: int) -> dict[str, Any]:
    """The move that brought the release into its phase; a `done` stand-in when none did."""
    release = Release.objects.get(pk=release_id)
    move = (
        PhaseMove.objects.select_related("requested_by")
        .filter(release=release, to_phase=release.phase, state=MoveState.DONE)
        .order_by("-processed_at", "-id")
        .first()
    )
    if move is None:
        entered = release.phase_entered_at
        move = PhaseMove(
            release=release,
            from_phase=release.phase,
            to_phase=release.phase,
            state=MoveState.DONE,
            created_at=entered,
            processed_at=entered,
        )
    return CurrentPhaseMoveSerializer(move).data


class TransitionView(ApiView):
    """Ask for a phase move: checked now, carried out by a worker (the status shows it done)."""

    serializer_class = PhaseMoveSerializer
    write_actions = {"POST": Action.MOVE_PHASE}

    @extend_schema(
        operation_id="releases_transition",
        request=TransitionSerializer,
        responses={
            202: OpenApiResponse(
                PhaseMoveSerializer,
                description="Accepted: a worker moves it. Asking again while it is on its way "
                "answers 202 with the same move.",
            ),
            200: OpenApiResponse(
                CurrentPhaseMoveSerializer,
                description="The release is already in that phase: the move that brought it "
                "there, `done`. Its `id` is null when no request did (the phase the release "
                "was created in, or one the engine moved it to).",
            ),
            **error_responses(400, 409),
        },
        summary="Ask for a phase move",
        description="Checked now: 409 with the blockers when the gate refuses it. Accepted "
        "moves are carried out by a worker; the status and the move show when it is done. "
        "Asking for the phase the release is already in changes nothing and answers 200.",
    )
    def post(self, request: Request, release_id: int) -> Response:
        data = validated(TransitionSerializer, request)
        move = services.release_request_move(
            release_id=release_id,
            to=data["to"],
            reason=data["reason"],
            override=data["override"],
            actor=cast(User, request.user),
        )
        if move is None:
            return Response(_current_phase_move(release_id), status=status.HTTP_200_OK)
        move = PhaseMove.objects.select_related("requested_by").get(pk=move.pk)
        response = Response(PhaseMoveSerializer(move).data, status=status.HTTP_202_ACCEPTED)
        response["Location"] = f"/api/v1/moves/{move.pk}/"
        return response


MOVES = PhaseMove.objects.select_related("requested_by")


class MoveListView(ApiMixin, ReleaseScopedMixin, generics.ListAPIView):
    """A release's requested phase moves, newest first, with what refused them."""

    serializer_class = PhaseMoveSerializer
    filterset_fields = ["state"]
    ordering_fields = ["created_at", "id"]
    ordering = ["-created_at", "-id"]

    queryset = MOVES


class MoveDetailView(ApiMixin, generics.RetrieveAPIView):
    queryset = MOVES
    serializer_class = PhaseMoveSerializer
    lookup_url_kwarg = "id"
