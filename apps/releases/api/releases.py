"""Applications, releases, their status and phase moves."""

from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpResponseNotModified
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
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
    body_etag,
    error_responses,
    etag_response,
    validated,
)

from .. import services
from ..models import (
    Application,
    Phase,
    PhaseMove,
    Release,
)
from ..selectors import release_status
from .shared import (
    ReleaseScopedMixin,
    UserRefSerializer,
    id_field,
    required_text,
    text,
    user_ref,
)

# Applications


class ApplicationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Application
        fields = ["id", "name", "slug", "description", "created_at", "updated_at"]
        read_only_fields = fields


class ApplicationWriteSerializer(serializers.Serializer):
    name = required_text(100)
    slug = serializers.SlugField(max_length=64)
    description = text(5000, required=False)


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
        app = services.application_create(actor=request.user, **data)
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
        app = services.application_update(application_id=id, actor=request.user, **data)
        return Response(ApplicationSerializer(app).data)


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

    def to_representation(self, release: Release) -> dict[str, Any]:
        # Field-by-field rendering dominates a page of releases; this builds the same document
        # directly (the declared fields above still describe it in the schema).
        app, owner, creator = release.application, release.owner, release.created_by
        tz = timezone.get_current_timezone()

        def moment(value: datetime) -> str:
            text = value.astimezone(tz).isoformat()
            return text[:-6] + "Z" if text.endswith("+00:00") else text

        return {
            "id": release.pk,
            "application": {"id": app.pk, "name": app.name, "slug": app.slug},
            "name": release.name,
            "version": release.version,
            "build_ref": release.build_ref,
            "scope": release.scope,
            "owner": {"id": owner.pk, "username": owner.get_username()},
            "created_by": {"id": creator.pk, "username": creator.get_username()},
            "planned_start": moment(release.planned_start) if release.planned_start else None,
            "planned_end": moment(release.planned_end) if release.planned_end else None,
            "phase": release.phase,
            "phase_entered_at": moment(release.phase_entered_at),
            "signoff_expiry_days": release.signoff_expiry_days,
            "hypercare_days": release.hypercare_days,
            "hypercare_until": moment(release.hypercare_until) if release.hypercare_until else None,
            "revision": release.revision,
            "created_at": moment(release.created_at),
            "updated_at": moment(release.updated_at),
        }


class ReleaseWriteSerializer(serializers.Serializer):
    name = required_text(200)
    version = required_text(64)
    build_ref = text(200, required=False)
    scope = text(20000, required=False)
    owner = id_field(required=False, help_text="The owner's user id; the creator by default.")
    planned_start = serializers.DateTimeField(required=False, allow_null=True)
    planned_end = serializers.DateTimeField(required=False, allow_null=True)
    signoff_expiry_days = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=3650
    )
    hypercare_days = serializers.IntegerField(required=False, min_value=0, max_value=365)


class ReleaseCreateSerializer(ReleaseWriteSerializer):
    application = id_field()


# What a release document shows; loading only these keeps a page of 50 cheap.
RELEASE_COLUMNS = [
    *(f for f in ReleaseSerializer.Meta.fields if f not in ("application", "owner", "created_by")),
    "application__name",
    "application__slug",
    "owner__username",
    "created_by__username",
]


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
        from apps.rollouts.models import Wave

        return queryset.filter(
            Exists(Wave.objects.filter(plan__release=OuterRef("pk"), environment_id=value))
        )


class ReleaseListView(ApiMixin, generics.ListCreateAPIView):
    """Releases, newest first; filter by phase, application, environment, owner and dates."""

    queryset = Release.objects.select_related("application", "owner", "created_by").only(
        *RELEASE_COLUMNS
    )
    serializer_class = ReleaseSerializer
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

    @extend_schema(
        request=ReleaseCreateSerializer,
        responses={201: ReleaseSerializer, **error_responses(400)},
    )
    def post(self, request: Request) -> Response:
        data = validated(ReleaseCreateSerializer, request)
        release = services.release_create(
            actor=request.user,
            application_id=data.pop("application"),
            owner_id=data.pop("owner", None),
            **data,
        )
        return Response(_release_data(release.pk), status=status.HTTP_201_CREATED)


def _release_data(release_id: int) -> dict:
    release = ReleaseListView.queryset.get(pk=release_id)
    return ReleaseSerializer(release).data


class ReleaseDetailView(ApiMixin, generics.RetrieveAPIView):
    queryset = ReleaseListView.queryset
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
        services.release_update(release_id=id, actor=request.user, **data)
        return Response(_release_data(id))


# Status


class SignoffCountsSerializer(serializers.Serializer):
    required = serializers.IntegerField()
    approved = serializers.IntegerField()
    rejected = serializers.IntegerField()
    stale = serializers.IntegerField()


class WaveStatusSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    environment = serializers.CharField()
    percentage = serializers.IntegerField()
    state = serializers.CharField()
    scheduled_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class ReleaseStatusSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    version = serializers.CharField()
    application = serializers.CharField()
    phase = serializers.CharField()
    phase_entered_at = serializers.DateTimeField()
    blockers = BlockerSerializer(many=True)
    signoffs = SignoffCountsSerializer()
    waves = WaveStatusSerializer(many=True)
    progress = serializers.IntegerField()
    updated_at = serializers.DateTimeField()


class ReleaseStatusView(ApiView):
    serializer_class = ReleaseStatusSerializer

    @extend_schema(
        operation_id="releases_status",
        parameters=[
            OpenApiParameter(
                "If-None-Match",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="The ETag of a status already held: 304 if it is unchanged.",
            )
        ],
        responses={
            200: OpenApiResponse(
                ReleaseStatusSerializer,
                description="Phase, the next move's blockers, sign-off counts, waves, progress.",
            ),
            304: OpenApiResponse(description="Unchanged since the ETag sent in If-None-Match."),
        },
    )
    def get(self, request: Request, release_id: int) -> Response | HttpResponseNotModified:
        release = get_object_or_404(Release.objects.select_related("application"), pk=release_id)
        # Every change to a release or what it holds bumps its revision, so a cached body is
        # never older than the last change; the short lifetime bounds what time alone changes
        # (sign-off expiry, hypercare ending).
        key = f"release-status:{release.pk}:{release.revision}:{release.updated_at.timestamp()}"
        cached = cache.get(key)
        if cached is None:
            data = ReleaseStatusSerializer(release_status(release)).data
            cached = (dict(data), body_etag(data))
            cache.set(key, cached, settings.RELEASEDECK_STATUS_CACHE_SECONDS)
        return etag_response(request, *cached)


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
    reason = text(2000, required=False, help_text="Required to cancel, roll back or override.")
    override = serializers.BooleanField(
        required=False, default=False, help_text="Administrators only: pass a blocked gate."
    )


class TransitionView(ApiView):
    """Ask for a phase move: checked now, carried out by a worker (the status shows it done)."""

    serializer_class = PhaseMoveSerializer
    write_actions = {"POST": Action.MOVE_PHASE}

    @extend_schema(
        operation_id="releases_transition",
        request=TransitionSerializer,
        responses={
            202: OpenApiResponse(PhaseMoveSerializer, description="Accepted: a worker moves it."),
            200: OpenApiResponse(
                ReleaseSerializer, description="The release is already in that phase."
            ),
            **error_responses(400, 409),
        },
    )
    def post(self, request: Request, release_id: int) -> Response:
        data = validated(TransitionSerializer, request)
        move = services.release_request_move(
            release_id=release_id,
            to=data["to"],
            reason=data.get("reason", ""),
            override=data["override"],
            actor=request.user,
        )
        if move is None:
            return Response(_release_data(release_id), status=status.HTTP_200_OK)
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
