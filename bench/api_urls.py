"""The project's URLs plus bare Django views of the same rows, the baseline the API is held to."""

from django.http import HttpRequest, JsonResponse
from django.urls import path

from apps.releases.api import ReleaseListView
from apps.releases.api.releases import ReleaseSerializer
from apps.releases.models import Release
from config.urls import handler404, handler500, urlpatterns  # noqa: F401

# The release's row: every column of its table, as the API's documents are built from it.
ROW = tuple(f.attname for f in Release._meta.concrete_fields)
# Seven of them: the baseline of earlier runs, still printed for comparison.
SEVEN = ("id", "name", "version", "phase", "phase_entered_at", "updated_at", "application_id")
# Every column the API's release document shows (its nested application and people included),
# flat, in the API list's default order.
DOCUMENT_COLUMNS = (
    *(f for f in ReleaseSerializer.Meta.fields if f not in ("application", "owner", "created_by")),
    "application_id",
    "application__name",
    "application__slug",
    "owner_id",
    "owner__username",
    "created_by_id",
    "created_by__username",
)


def bare_release(request: HttpRequest, release_id: int) -> JsonResponse:
    return JsonResponse(Release.objects.values(*ROW).get(pk=release_id))


def bare_release_seven(request: HttpRequest, release_id: int) -> JsonResponse:
    return JsonResponse(Release.objects.values(*SEVEN).get(pk=release_id))


def bare_releases(request: HttpRequest) -> JsonResponse:
    rows = Release.objects.values(*ROW).order_by(*ReleaseListView.ordering)[:50]
    return JsonResponse({"results": list(rows)})


def bare_releases_seven(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"results": list(Release.objects.values(*SEVEN).order_by("-id")[:50])})


def bare_release_columns(request: HttpRequest) -> JsonResponse:
    rows = Release.objects.values(*DOCUMENT_COLUMNS).order_by(*ReleaseListView.ordering)[:50]
    return JsonResponse({"results": list(rows)})


urlpatterns = [
    path("bench/releases/documents/", bare_release_columns),
    path("bench/releases/seven/", bare_releases_seven),
    path("bench/releases/<int:release_id>/seven/", bare_release_seven),
    path("bench/releases/<int:release_id>/", bare_release),
    path("bench/releases/", bare_releases),
    *urlpatterns,
]
