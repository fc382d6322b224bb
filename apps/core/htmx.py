"""Small helpers for views that answer both whole pages and htmx fragments."""

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeGuard, TypeVar

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django_htmx.http import trigger_client_event
from django_htmx.middleware import HtmxDetails

View = Callable[..., HttpResponse]
R = TypeVar("R", bound=HttpResponseBase)


class HtmxRequest(HttpRequest):
    """A request HtmxMiddleware has marked as coming from htmx."""

    htmx: HtmxDetails


def is_htmx(request: HttpRequest) -> TypeGuard[HtmxRequest]:
    return bool(getattr(request, "htmx", False))


def login_required(view: Callable[..., R]) -> Callable[..., R | HttpResponse]:
    """Send anonymous people to the login form.

    A page gets the usual redirect. An htmx request would otherwise swap the login page into a
    fragment, so it gets 403 with HX-Redirect and the browser loads the login form as a page.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> R | HttpResponse:
        if request.user.is_authenticated:
            return view(request, *args, **kwargs)
        if is_htmx(request):
            back = request.htmx.current_url_abs_path or "/"
            response = HttpResponse("Sign in first.", status=403, content_type="text/plain")
            response["HX-Redirect"] = (
                f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': back})}"
            )
            return response
        back = request.get_full_path()
        if request.method != "GET":
            # After signing in, return to the page the form was on, not to the form's target.
            referer = request.META.get("HTTP_REFERER", "")
            safe = url_has_allowed_host_and_scheme(
                referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
            )
            back = referer if safe else "/"
        return redirect_to_login(back)

    return wrapper


def render_fragment(
    request: HttpRequest,
    template_name: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    event: str | None = None,
) -> HttpResponse:
    """Render a fragment; `event` is announced to the page once the fragment has settled."""
    response = render(request, template_name, context, status=status)
    if event:
        trigger_client_event(response, event, after="settle")
    return response
