"""Shapes and helpers every API module of the project shares."""

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from rest_framework import serializers

from apps.core.api import ID_MAX

from ..models import Release


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class EnvironmentRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


def user_ref() -> UserRefSerializer:
    return UserRefSerializer(read_only=True, allow_null=True)


class ReleaseScopedMixin:
    """For lists under /releases/{release_id}/: 404 for an unknown release, never an empty list.

    The view's `queryset` is narrowed to the release through `release_field`.
    """

    kwargs: dict[str, Any]
    queryset: QuerySet
    release_field = "release"

    def get_release(self) -> Release:
        if not hasattr(self, "_release"):
            self._release = get_object_or_404(Release, pk=self.kwargs["release_id"])
        return self._release

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request
            return self.queryset.none()
        return self.queryset.filter(**{self.release_field: self.get_release()})


def text(max_length: int | None = None, **kwargs: Any) -> serializers.CharField:
    """A text field as services take it: may be blank, never trimmed here (services trim)."""
    return serializers.CharField(
        max_length=max_length, allow_blank=True, trim_whitespace=False, **kwargs
    )


def required_text(max_length: int, **kwargs: Any) -> serializers.CharField:
    return serializers.CharField(max_length=max_length, trim_whitespace=False, **kwargs)


def id_field(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=ID_MAX, **kwargs)
