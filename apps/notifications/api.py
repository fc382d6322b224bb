"""Announcement endpoints: what end users are told about a release."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.permissions import Action
from apps.core.api import ApiMixin, error_responses, no_content, validated
from apps.releases.api import ReleaseScopedMixin, required_text, text, user_ref

from . import services
from .models import Announcement


class AnnouncementSerializer(serializers.ModelSerializer):
    author = user_ref()
    training_url = serializers.CharField(read_only=True, help_text="An http(s) URL, or empty.")

    class Meta:
        model = Announcement
        fields = [
            "id",
            "release",
            "title",
            "body",
            "publish_at",
            "training_url",
            "author",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class AnnouncementWriteSerializer(serializers.Serializer):
    title = required_text(200)
    body = required_text(20000)
    publish_at = serializers.DateTimeField(required=False, allow_null=True)
    training_url = text(200, required=False)


ANNOUNCEMENTS = Announcement.objects.select_related("author")


class AnnouncementListView(ApiMixin, ReleaseScopedMixin, generics.ListCreateAPIView):
    """What changes for end users, when, and where to learn it."""

    serializer_class = AnnouncementSerializer
    ordering_fields = ["publish_at", "created_at", "id"]
    ordering = ["-created_at", "-id"]
    write_actions = {"POST": Action.MANAGE_ANNOUNCEMENTS}

    queryset = ANNOUNCEMENTS

    @extend_schema(
        request=AnnouncementWriteSerializer,
        responses={201: AnnouncementSerializer, **error_responses(400)},
    )
    def post(self, request: Request, release_id: int) -> Response:
        data = validated(AnnouncementWriteSerializer, request)
        announcement = services.announcement_create(
            release_id=release_id, actor=request.user, **data
        )
        return Response(
            AnnouncementSerializer(ANNOUNCEMENTS.get(pk=announcement.pk)).data,
            status=status.HTTP_201_CREATED,
        )


class AnnouncementDetailView(ApiMixin, generics.RetrieveAPIView):
    queryset = ANNOUNCEMENTS
    serializer_class = AnnouncementSerializer
    lookup_url_kwarg = "id"
    write_actions = {"PATCH": Action.MANAGE_ANNOUNCEMENTS, "DELETE": Action.MANAGE_ANNOUNCEMENTS}

    @extend_schema(
        request=AnnouncementWriteSerializer(partial=True),
        responses={200: AnnouncementSerializer, **error_responses(400)},
    )
    def patch(self, request: Request, id: int) -> Response:
        data = validated(AnnouncementWriteSerializer, request, partial=True)
        services.announcement_update(announcement_id=id, actor=request.user, **data)
        return Response(AnnouncementSerializer(ANNOUNCEMENTS.get(pk=id)).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, id: int) -> Response:
        services.announcement_delete(announcement_id=id, actor=request.user)
        return no_content()
