"""API documents that read several apps at once: a release's evidence pack; and the chat
interactions endpoint, whose buttons act on sign-offs of releases and waves."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.api_guards import WebhookRateThrottle
from apps.audit.api import AuditEventSerializer
from apps.core.api import ApiView, error_responses
from apps.notifications import slack
from apps.releases.models import Release

from .chat import interaction_parse, slack_interaction
from .evidence import evidence_pack


class EvidencePackSerializer(serializers.Serializer):
    generated_at = serializers.DateTimeField()
    release = serializers.DictField()
    signoff_policy = serializers.DictField()
    signoffs = serializers.ListField(child=serializers.DictField())
    gates = serializers.DictField()
    checklist = serializers.ListField(child=serializers.DictField())
    test_cases = serializers.ListField(child=serializers.DictField())
    defects = serializers.ListField(child=serializers.DictField())
    waves = serializers.ListField(child=serializers.DictField())
    decisions = AuditEventSerializer(many=True)
    audit_trail = serializers.DictField()


class EvidencePackView(ApiView):
    """One release's evidence: sign-offs and the content they were for, gates and moves with
    their blockers and overrides, checklist, tests, defects, checks with what they saw, and
    every decision with its reason."""

    serializer_class = EvidencePackSerializer

    @extend_schema(operation_id="releases_evidence")
    def get(self, request: Request, release_id: int) -> Response:
        release = get_object_or_404(
            Release.objects.select_related("application", "owner", "created_by"), pk=release_id
        )
        response = Response(evidence_pack(release))
        response["Content-Disposition"] = f'inline; filename="evidence-release-{release.pk}.json"'
        return response


class SlackInteractionForm(serializers.Serializer):
    payload = serializers.CharField(help_text="Slack's interaction payload (JSON).")


class ChatAnswerSerializer(serializers.Serializer):
    text = serializers.CharField(help_text="What the person who pressed the button is told.")


class SlackInteractionsView(ApiView):
    """Slack's interactivity request URL: a button pressed in a message we posted. No person's
    token: the request must carry Slack's signature (`X-Slack-Signature: v0=<hex of
    HMAC-SHA256(signing secret, "v0:" + X-Slack-Request-Timestamp + ":" + raw body)>`), be at
    most 5 minutes old and not seen before (401 otherwise). The Slack user acts only as the
    person an administrator linked to them (a chat identity), under the web's rules; the
    outcome, or why nothing changed, is posted to the message's `response_url`."""

    serializer_class = ChatAnswerSerializer
    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes = [WebhookRateThrottle]
    throttle_scope = "webhook"

    @extend_schema(
        operation_id="chat_slack_interactions",
        request={"application/x-www-form-urlencoded": SlackInteractionForm},
        responses={200: ChatAnswerSerializer, **error_responses(400, 401)},
        auth=[],
        parameters=[
            OpenApiParameter(slack.TIMESTAMP_HEADER, str, OpenApiParameter.HEADER, required=True),
            OpenApiParameter(slack.SIGNATURE_HEADER, str, OpenApiParameter.HEADER, required=True),
        ],
    )
    def post(self, request: Request) -> Response:
        body = request.body  # the raw bytes Slack signed; never parsed before the check
        slack.verify_request(
            body=body,
            timestamp=request.headers.get(slack.TIMESTAMP_HEADER, ""),
            signature_header=request.headers.get(slack.SIGNATURE_HEADER, ""),
        )
        return Response({"text": slack_interaction(interaction_parse(body))})
