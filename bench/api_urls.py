"""The project's URLs plus bare Django views of the same rows, the baseline the API is held to."""

from django.http import HttpRequest, JsonResponse
from django.urls import path

from apps.releases.models import Release
from config.urls import handler404, handler500, urlpatterns  # noqa: F401

FIELDS = ("id", "name", "version", "phase", "phase_entered_at", "updated_at", "application_id")


def bare_release(request: HttpRequest, release_id: int) -> JsonResponse:
    return JsonResponse(Release.objects.values(*FIELDS).get(pk=release_id))


def bare_releases(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"results": list(Release.objects.values(*FIELDS).order_by("-id")[:50])})


urlpatterns = [
    path("bench/releases/<int:release_id>/", bare_release),
    path("bench/releases/", bare_releases),
    *urlpatterns,
]
