"""Release endpoints of the REST API."""

from django.shortcuts import get_object_or_404
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.permissions import Action, require

from .models import Release
from .selectors import release_status


class BlockerSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


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


@api_view(["GET"])
def release_status_view(request: Request, release_id: int) -> Response:
    require(request.user, Action.VIEW)
    release = get_object_or_404(Release.objects.select_related("application"), pk=release_id)
    return Response(ReleaseStatusSerializer(release_status(release)).data)
