"""GitHub's webhook: the App's `deployment_protection_rule` events, answered later through
their callback URL."""

import hashlib
import hmac
import json
import logging

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.api_guards import WebhookRateThrottle
from apps.core.api import ApiView, error_responses
from apps.core.errors import ServiceError

from . import app_auth
from .models import DeploymentProtectionRequest
from .services import ProtectionEvent, protection_request_receive

logger = logging.getLogger(__name__)

EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"
SIGNATURE_HEADER = "X-Hub-Signature-256"
EVENT = "deployment_protection_rule"


class NotAuthenticated(ServiceError):
    status = 401


def signature_valid(body: bytes, signature: str) -> bool:
    """GitHub's `sha256=<hex HMAC-SHA256 of the raw body>` with the webhook secret."""
    secret = settings.RELEASEDECK_GITHUB_WEBHOOK_SECRET
    if not secret or not signature:
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.strip().encode())


class _Deployment(serializers.Serializer):
    sha = serializers.CharField(max_length=64, allow_blank=True, required=False, default="")
    ref = serializers.CharField(max_length=255, allow_blank=True, required=False, default="")


class _Installation(serializers.Serializer):
    id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)


class _Repository(serializers.Serializer):
    full_name = serializers.CharField(max_length=200, required=False, default="")


class ProtectionEventSerializer(serializers.Serializer):
    """The fields of a `deployment_protection_rule` event ReleaseDeck reads; GitHub sends more,
    which are ignored."""

    action = serializers.CharField(max_length=50)
    environment = serializers.CharField(max_length=255)
    deployment_callback_url = serializers.CharField(max_length=500)
    deployment = _Deployment()
    installation = _Installation()
    repository = _Repository(required=False)

    def validate_deployment_callback_url(self, value: str) -> str:
        # The answer carries an installation token: it goes to GitHub's API and nowhere else.
        if not value.startswith(app_auth.api_url() + "/"):
            raise ValidationError("Must be a URL of the GitHub API ReleaseDeck is set up for.")
        return value

    def validate(self, data: dict) -> dict:
        if not (data["deployment"]["sha"] or data["deployment"]["ref"]):
            raise ValidationError({"deployment": "Needs a sha or a ref."})
        return data


class ProtectionRequestSerializer(serializers.ModelSerializer):
    release = serializers.IntegerField(source="release_id", read_only=True, allow_null=True)
    environment = serializers.IntegerField(source="environment_id", read_only=True, allow_null=True)

    class Meta:
        model = DeploymentProtectionRequest
        fields = [
            "id",
            "delivery_id",
            "repository",
            "environment_name",
            "environment",
            "sha",
            "ref",
            "release",
            "verdict",
            "waiting_for",
            "comment",
            "answer_state",
            "answered_at",
            "created_at",
        ]
        read_only_fields = fields


class IgnoredSerializer(serializers.Serializer):
    detail = serializers.CharField()


class GithubWebhookView(ApiView):
    """The GitHub App's webhook. No person's token: the request is signed with the App's webhook
    secret (`X-Hub-Signature-256: sha256=<hex of HMAC-SHA256(secret, raw body)>`), 401
    otherwise, with nothing stored. A `deployment_protection_rule` event with action `requested`
    is stored and answered 202 at once; ReleaseDeck answers GitHub through the event's
    `deployment_callback_url` when the gate holds (approved) or is refused (rejected). The same
    delivery again is the stored request, answered once. Any other event (`ping` among them)
    or action is 200 and ignored."""

    serializer_class = ProtectionRequestSerializer
    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes = [WebhookRateThrottle]
    throttle_scope = "webhook"

    @extend_schema(
        operation_id="github_webhook",
        summary="Receive a GitHub deployment protection rule event",
        request=ProtectionEventSerializer,
        responses={
            202: ProtectionRequestSerializer,
            200: OpenApiResponse(
                IgnoredSerializer, description="Not an event ReleaseDeck acts on."
            ),
            **error_responses(400, 401),
        },
        auth=[],
        parameters=[
            OpenApiParameter(EVENT_HEADER, str, OpenApiParameter.HEADER, required=True),
            OpenApiParameter(DELIVERY_HEADER, str, OpenApiParameter.HEADER, required=True),
            OpenApiParameter(SIGNATURE_HEADER, str, OpenApiParameter.HEADER, required=True),
        ],
    )
    def post(self, request: Request) -> Response:
        body = request.body  # the raw bytes are what is signed
        if not signature_valid(body, request.headers.get(SIGNATURE_HEADER, "")):
            logger.warning("GitHub webhook refused: bad or missing signature")
            raise NotAuthenticated("The signature does not match the GitHub App's webhook secret.")
        event = request.headers.get(EVENT_HEADER, "")
        if event != EVENT:
            return Response({"detail": f"Ignored: {event or 'no'} event."})
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise ServiceError("The body is not JSON.") from None
        if not isinstance(payload, dict):
            raise ServiceError("The body is not a JSON object.")
        if payload.get("action") != "requested":
            return Response({"detail": f"Ignored: action {payload.get('action')!r}."})
        delivery = request.headers.get(DELIVERY_HEADER, "").strip()
        if not delivery or len(delivery) > 100:
            raise ServiceError(f"{DELIVERY_HEADER} is missing.", field=DELIVERY_HEADER)
        shape = ProtectionEventSerializer(data=payload)
        shape.is_valid(raise_exception=True)
        data = shape.validated_data
        stored, _ = protection_request_receive(
            event=ProtectionEvent(
                delivery_id=delivery,
                installation_id=data["installation"]["id"],
                repository=data.get("repository", {}).get("full_name", ""),
                environment=data["environment"],
                sha=data["deployment"]["sha"],
                ref=data["deployment"]["ref"],
                callback_url=data["deployment_callback_url"],
            )
        )
        return Response(ProtectionRequestSerializer(stored).data, status=status.HTTP_202_ACCEPTED)
