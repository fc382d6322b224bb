"""A release's status document: the small, cached answer pipelines and dashboards poll."""

from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.http import Http404, HttpResponse, HttpResponseNotModified
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request

from apps.core.api import (
    ApiView,
    BlockerSerializer,
    body_etag,
    etag_json_response,
    rendered_json,
)

from ..models import (
    Release,
)
from ..selectors import release_status

# Status


class SignoffCountsSerializer(serializers.Serializer):
    required = serializers.IntegerField()  # type: ignore[assignment]  # a field, not Field.required
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
    def get(self, request: Request, release_id: int) -> HttpResponse | HttpResponseNotModified:
        stamp = (
            Release.objects.filter(pk=release_id)
            .order_by()
            .values_list("revision", "updated_at")
            .first()
        )
        if stamp is None:
            raise Http404
        return etag_json_response(request, *_status_body(release_id, *stamp))


def _status_key(release_id: int, revision: int, updated_at: datetime) -> str:
    zone = timezone.get_current_timezone_name()
    return f"release-status:{release_id}:{revision}:{updated_at.timestamp()}:{zone}"


def _status_body(release_id: int, revision: int, updated_at: datetime) -> tuple[bytes, str]:
    """The rendered status document and its ETag, at most a few seconds old.

    Every change to a release or what it holds bumps its revision, so a cached body is never
    older than the last change; the short lifetime bounds what time alone changes (sign-off
    expiry, hypercare ending). Times are written in the reader's time zone.
    """
    cached = cache.get(_status_key(release_id, revision, updated_at))
    if cached is None:
        release = get_object_or_404(Release.objects.select_related("application"), pk=release_id)
        data = ReleaseStatusSerializer(release_status(release)).data
        cached = (rendered_json(data), body_etag(data))
        # Keyed by the release as read now: it may have changed since the stamp was read.
        key = _status_key(release_id, release.revision, release.updated_at)
        cache.set(key, cached, settings.RELEASEDECK_STATUS_CACHE_SECONDS)
    return cached[0], cached[1]
