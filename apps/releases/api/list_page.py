"""The release list's page built from plain rows: what `ReleaseSerializer` writes for each
release, without a model instance and a serializer field per value.

bench/api.py's release list needs it: through the serializer the list answers about 0.3 of the
bare view's throughput, against a target of 0.5. tests/api/test_fast_paths.py holds every page
equal to the serializer's output, so the two cannot drift; anything but the list (details,
writes' answers) goes through the serializer itself.
"""

from datetime import datetime
from typing import Any, cast

from django.core.paginator import Page
from django.core.paginator import Paginator as DjangoPaginator
from django.db.models import QuerySet
from django.utils import timezone

from apps.core.lists import Pagination

from ..models import Release

# The columns a document is built from, in the order `release_documents` unpacks them.
COLUMNS = (
    "id",
    "application_id",
    "application__name",
    "application__slug",
    "name",
    "version",
    "build_ref",
    "scope",
    "owner_id",
    "owner__username",
    "created_by_id",
    "created_by__username",
    "planned_start",
    "planned_end",
    "phase",
    "phase_entered_at",
    "signoff_expiry_days",
    "hypercare_days",
    "hypercare_until",
    "revision",
    "created_at",
    "updated_at",
)


def release_documents(queryset: QuerySet[Release]) -> list[dict[str, Any]]:
    """What `ReleaseSerializer(queryset, many=True)` writes, from one query of plain rows."""
    zone = timezone.get_current_timezone()

    def moment(value: datetime | None) -> str | None:
        # As DRF's DateTimeField writes it: ISO 8601 in the current time zone, UTC as "Z".
        if value is None:
            return None
        text = value.astimezone(zone).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return [
        {
            "id": pk,
            "application": {"id": app_id, "name": app_name, "slug": app_slug},
            "name": name,
            "version": version,
            "build_ref": build_ref,
            "scope": scope,
            "owner": {"id": owner_id, "username": owner_name},
            "created_by": {"id": creator_id, "username": creator_name},
            "planned_start": moment(planned_start),
            "planned_end": moment(planned_end),
            "phase": phase,
            "phase_entered_at": moment(phase_entered_at),
            "signoff_expiry_days": signoff_expiry_days,
            "hypercare_days": hypercare_days,
            "hypercare_until": moment(hypercare_until),
            "revision": revision,
            "created_at": moment(created_at),
            "updated_at": moment(updated_at),
        }
        for (
            pk,
            app_id,
            app_name,
            app_slug,
            name,
            version,
            build_ref,
            scope,
            owner_id,
            owner_name,
            creator_id,
            creator_name,
            planned_start,
            planned_end,
            phase,
            phase_entered_at,
            signoff_expiry_days,
            hypercare_days,
            hypercare_until,
            revision,
            created_at,
            updated_at,
        ) in queryset.values_list(*COLUMNS)
    ]


class _ReleasePaginator(DjangoPaginator):
    """Counts the filtered releases, then reads the page as documents in one query."""

    def page(self, number: Any) -> Page:
        page = super().page(number)
        page.object_list = release_documents(cast(QuerySet[Release], page.object_list))
        return page


class ReleasePagination(Pagination):
    django_paginator_class = _ReleasePaginator
