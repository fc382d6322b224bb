"""API documents that read several apps at once: a release's evidence pack."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.audit.api import AuditEventSerializer
from apps.core.api import ApiView
from apps.releases.models import Release

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
