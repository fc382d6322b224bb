"""How the REST API keeps releases of other teams out of sight when visibility is restricted.
Kept apart from the views, as accounts.api_guards is: DRF imports these from its settings."""

from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import QuerySet
from django.http import Http404
from rest_framework import permissions
from rest_framework.filters import BaseFilterBackend
from rest_framework.request import Request

from apps.accounts.permissions import restricted_visibility, visible_q

from .models import Application, Release

# How a row reaches the release (or application) it belongs to, tried in this order.
_TOWARDS_RELEASE = ("release", "application", "plan", "wave", "check")


def team_path(model: type[models.Model], depth: int = 0) -> str | None:
    """The lookup from `model`'s rows to the team that owns them (e.g. "wave__application__team"
    for a check result); None for rows no team owns (environments, freezes, people)."""
    if model is Application:
        return "team"
    if model is Release:
        return "application__team"
    if depth > 3:
        return None
    for name in _TOWARDS_RELEASE:
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            continue
        if field.many_to_one or field.one_to_one:
            rest = team_path(field.related_model, depth + 1)  # type: ignore[arg-type]
            if rest is not None:
                return f"{name}__{rest}"
    return None


class VisibleFilter(BaseFilterBackend):
    """When visibility is restricted, lists and lookups hold only rows of the person's teams,
    so a hidden release's rows are 404, never 403."""

    def filter_queryset(self, request: Request, queryset: QuerySet, view: Any) -> QuerySet:
        if not restricted_visibility():
            return queryset
        path = team_path(queryset.model)
        return queryset if path is None else queryset.filter(visible_q(request.user, path))


class ReleaseVisible(permissions.BasePermission):
    """A route under a release (/releases/{release_id}/…) or under another row of one (a view
    naming it in `visible_through`, e.g. (Wave, "id") for /waves/{id}/checks/) is 404 when the
    person may not see that release."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if not restricted_visibility():
            return True
        model, kwarg = getattr(view, "visible_through", (Release, "release_id"))
        pk = getattr(view, "kwargs", {}).get(kwarg)
        path = team_path(model)
        if pk is None or path is None:
            return True
        rows = model._default_manager.filter(pk=pk)
        if not rows.filter(visible_q(request.user, path)).exists():
            raise Http404(f"No such {model._meta.verbose_name}.")
        return True
