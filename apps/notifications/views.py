"""The notification webhooks page: who receives release events, how their deliveries went,
and the forms that change them through apps.notifications.services."""

import secrets
from typing import Any, cast

from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts.permissions import Action, page_require
from apps.core.errors import ServiceError
from apps.core.htmx import is_htmx, login_required

from . import services
from .forms import SecretForm, WebhookForm
from .models import OutboundWebhook
from .selectors import RECENT, webhook_board

TEMPLATE = "notifications/webhooks.html"


def _new_secret(given: str) -> tuple[str, bool]:
    """The secret to store, and whether it was made up here (then it is shown once)."""
    return (given, False) if given else (secrets.token_urlsafe(32), True)


@require_http_methods(["GET", "POST"])
@login_required
def webhooks_page(request: HttpRequest) -> HttpResponse:
    page_require(request.user, Action.MANAGE_WEBHOOKS)
    if request.method == "GET":
        return render(request, TEMPLATE, _context(WebhookForm()))
    form = WebhookForm(request.POST)
    if not form.is_valid():
        return _answer(request, _context(form), 400)
    secret, made_up = _new_secret(form.cleaned_data["secret"])
    try:
        hook = services.webhook_create(
            actor=cast(User, request.user),
            name=form.cleaned_data["name"],
            url=form.cleaned_data["url"],
            secret=secret,
        )
    except ServiceError as exc:
        form.add_service_error(exc.field, exc.message)
        return _answer(request, _context(form), exc.status)
    if not made_up:
        return _done(request, f"Webhook “{hook.name}” added.", 201)
    return _reveal(request, hook, secret, f"Webhook “{hook.name}” added.", 201)


@require_POST
@login_required
def webhook_switch(request: HttpRequest, webhook_id: int) -> HttpResponse:
    page_require(request.user, Action.MANAGE_WEBHOOKS)
    active = request.POST.get("active") == "on"
    try:
        hook = services.webhook_update(
            webhook_id=webhook_id, actor=cast(User, request.user), active=active
        )
    except ServiceError as exc:
        return _answer(request, _context(WebhookForm(), error=exc.message), exc.status)
    state = "on: it gets every release event from now" if active else "off: it gets nothing"
    return _done(request, f"Webhook “{hook.name}” switched {state}.")


@require_POST
@login_required
def webhook_secret(request: HttpRequest, webhook_id: int) -> HttpResponse:
    page_require(request.user, Action.MANAGE_WEBHOOKS)
    form = SecretForm(request.POST)
    if not form.is_valid():
        return _answer(request, _context(WebhookForm(), error=_first_error(form)), 400)
    secret, made_up = _new_secret(form.cleaned_data["secret"])
    try:
        hook = services.webhook_update(
            webhook_id=webhook_id, actor=cast(User, request.user), secret=secret
        )
    except ServiceError as exc:
        return _answer(request, _context(WebhookForm(), error=exc.message), exc.status)
    flash = f"Webhook “{hook.name}” has a new secret; it signs every request from now on."
    if not made_up:
        return _done(request, flash)
    return _reveal(request, hook, secret, flash, 200)


@require_POST
@login_required
def webhook_delete(request: HttpRequest, webhook_id: int) -> HttpResponse:
    page_require(request.user, Action.MANAGE_WEBHOOKS)
    try:
        services.webhook_delete(webhook_id=webhook_id, actor=cast(User, request.user))
    except ServiceError as exc:
        return _answer(request, _context(WebhookForm(), error=exc.message), exc.status)
    return _done(request, "Webhook removed.")


def _first_error(form: SecretForm) -> str:
    return next(iter(str(e) for errors in form.errors.values() for e in errors), "Invalid secret.")


def _done(request: HttpRequest, flash: str, status: int = 200) -> HttpResponse:
    if not is_htmx(request):
        return redirect("notifications:webhooks")
    return _answer(request, _context(WebhookForm(), flash=flash), status)


def _reveal(
    request: HttpRequest, hook: OutboundWebhook, secret: str, flash: str, status: int
) -> HttpResponse:
    # No redirect: the secret exists only in this answer, which no cache may keep.
    context = _context(WebhookForm(), flash=flash, revealed={"hook": hook, "secret": secret})
    response = _answer(request, context, status)
    add_never_cache_headers(response)
    return response


def _answer(request: HttpRequest, context: dict[str, Any], status: int) -> HttpResponse:
    template = f"{TEMPLATE}#board" if is_htmx(request) else TEMPLATE
    return render(request, template, context, status=status)


def _context(
    form: WebhookForm,
    *,
    flash: str = "",
    error: str = "",
    revealed: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "form": form,
        "rows": webhook_board(),
        "recent_days": RECENT.days,
        "secret_form": SecretForm(),
        "flash": flash,
        "error": error,
        "revealed": revealed,
    }
