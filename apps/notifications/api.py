"""Announcement endpoints (what end users are told about a release) and the outbound
notification webhooks (who receives release events)."""

from typing import cast

from django.contrib.auth.models import User
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.permissions import Action
from apps.core.api import (
    ApiMixin,
    error_responses,
    no_content,
    user_ref,
    validated,
)
from apps.releases.api import ReleaseScopedMixin

from . import services, validators
from .models import Announcement, OutboundWebhook


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
    title = serializers.CharField(max_length=200)
    body = serializers.CharField(max_length=20000)
    publish_at = serializers.DateTimeField(
        required=False, allow_null=True, validators=[validators.publish_time]
    )
    training_url = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        validators=[validators.training_url],
        help_text="An http(s) URL, or empty.",
    )


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
            release_id=release_id, actor=cast(User, request.user), **data
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
        services.announcement_update(announcement_id=id, actor=cast(User, request.user), **data)
        return Response(AnnouncementSerializer(ANNOUNCEMENTS.get(pk=id)).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, id: int) -> Response:
        services.announcement_delete(announcement_id=id, actor=cast(User, request.user))
        return no_content()


# Outbound notification webhooks


class NotificationWebhookSerializer(serializers.ModelSerializer):
    """A receiver of release events. Each phase move, wave start, halt or rollback and sign-off
    request is POSTed to every active webhook as JSON: `{"event", "at", "release": {"id",
    "name", "version", "phase"}, "wave": {"id", "name", "state", "environment"} or null,
    "text"}`, with the headers `X-ReleaseDeck-Timestamp` (Unix seconds),
    `X-ReleaseDeck-Signature: sha256=<hex>` (HMAC-SHA256 with the webhook's secret over
    `<timestamp>.<raw body>`) and `Idempotency-Key` (the same on every attempt of one
    notification). A receiver checks the signature, refuses a timestamp more than 5 minutes
    off its clock, drops a repeated Idempotency-Key and answers 2xx; anything else is retried
    (after 10 s, doubling, at most 6 attempts). The README's "Webhooks" section has a receiver
    to copy."""

    class Meta:
        model = OutboundWebhook
        fields = ["id", "name", "url", "active", "created_at", "updated_at"]
        read_only_fields = fields


class NotificationWebhookWriteSerializer(serializers.Serializer):
    """A field not listed here is refused with 400, naming it."""

    name = serializers.CharField(max_length=100)
    url = serializers.CharField(
        max_length=200,
        validators=[validators.receiver_url],
        help_text="Where the signed JSON is POSTed: an http(s) URL.",
    )
    secret = serializers.CharField(
        write_only=True,
        max_length=validators.SECRET_MAX_LENGTH,
        trim_whitespace=False,
        validators=[validators.secret],
        help_text=(
            "The HMAC-SHA256 key of `X-ReleaseDeck-Signature`, 16 to 128 characters. "
            "Write-only: no answer ever contains it."
        ),
    )
    active = serializers.BooleanField(required=False, help_text="Default true.")


class WebhookListView(ApiMixin, generics.ListAPIView):
    """Receivers of release events (chat bots, dashboards); release managers and administrators
    only, for reading too, since a receiver's URL often carries its own credentials."""

    queryset = OutboundWebhook.objects.all()
    serializer_class = NotificationWebhookSerializer
    ordering_fields = ["name", "created_at", "id"]
    ordering = ["name", "id"]
    read_action = Action.MANAGE_WEBHOOKS
    write_actions = {"POST": Action.MANAGE_WEBHOOKS}

    @extend_schema(
        operation_id="notification_webhooks_create",
        request=NotificationWebhookWriteSerializer,
        responses={201: NotificationWebhookSerializer, **error_responses(400)},
    )
    def post(self, request: Request) -> Response:
        data = validated(NotificationWebhookWriteSerializer, request)
        hook = services.webhook_create(actor=cast(User, request.user), **data)
        return Response(NotificationWebhookSerializer(hook).data, status=status.HTTP_201_CREATED)


class WebhookDetailView(ApiMixin, generics.RetrieveAPIView):
    """One receiver of release events. Release managers and administrators only."""

    queryset = OutboundWebhook.objects.all()
    serializer_class = NotificationWebhookSerializer
    lookup_url_kwarg = "id"
    read_action = Action.MANAGE_WEBHOOKS
    write_actions = {"PATCH": Action.MANAGE_WEBHOOKS, "DELETE": Action.MANAGE_WEBHOOKS}

    @extend_schema(
        operation_id="notification_webhooks_partial_update",
        request=NotificationWebhookWriteSerializer(partial=True),
        responses={200: NotificationWebhookSerializer, **error_responses(400)},
    )
    def patch(self, request: Request, id: int) -> Response:
        data = validated(NotificationWebhookWriteSerializer, request, partial=True)
        hook = services.webhook_update(webhook_id=id, actor=cast(User, request.user), **data)
        return Response(NotificationWebhookSerializer(hook).data)

    @extend_schema(operation_id="notification_webhooks_destroy", responses={204: None})
    def delete(self, request: Request, id: int) -> Response:
        services.webhook_delete(webhook_id=id, actor=cast(User, request.user))
        return no_content()
