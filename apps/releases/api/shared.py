"""What the release API's modules share, and the nested-route mixin the apps above use."""

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from ..models import Release


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
