"""The demo's stand-in for the service its canary rolls out: what the seeded checks ask."""

import random

from django.conf import settings
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from .steps import IN_FLIGHT_VERSION


@require_GET
def demo_health(request: HttpRequest) -> JsonResponse:
    """Up, on the version being rolled out, with a small error rate that moves a little, so
    each check result in the console shows a value of its own. Only where the demo runs."""
    if not getattr(settings, "RELEASEDECK_DEMO_ENDPOINTS", False):
        raise Http404("No such page.")
    return JsonResponse(
        {
            "status": "ok",
            "service": "crm",
            "version": IN_FLIGHT_VERSION,
            "error_rate": round(random.uniform(0.002, 0.012), 4),
        }
    )
