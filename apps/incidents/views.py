"""The environments page's button to approve lifting an incident freeze: the same service
the API calls, answered with the refreshed board."""

from typing import cast

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from apps.core.errors import NotAllowed, ServiceError
from apps.core.htmx import login_required
from apps.environments.forms import ReasonForm
from apps.environments.views import board_response

from . import services


@require_POST
@login_required
def freeze_lift(request: HttpRequest, freeze_id: int) -> HttpResponse:
    key = f"lift-{freeze_id}"
    form = ReasonForm(request.POST, prefix=key)
    if not form.is_valid():
        return board_response(request, bound=(key, form), status=400)
    try:
        state = services.freeze_lift_approve(
            freeze_id=freeze_id, actor=cast(User, request.user), reason=form.cleaned_data["reason"]
        )
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from None
    except ServiceError as exc:
        form.add_service_error(exc.field, exc.message)
        return board_response(request, bound=(key, form), status=exc.status)
    return board_response(request, flash=state.message)
