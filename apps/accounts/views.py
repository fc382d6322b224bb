"""A person's own API tokens: list, create (the key is shown once), revoke."""

from typing import Any, cast

from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods, require_POST

from apps.core.errors import ServiceError
from apps.core.htmx import is_htmx, login_required

from .forms import TokenForm
from .models import ApiToken
from .services import MAX_TOKENS_PER_USER, api_token_create, api_token_revoke

TEMPLATE = "accounts/tokens.html"


@require_http_methods(["GET", "POST"])
@login_required
def tokens_page(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return render(request, TEMPLATE, _context(request, TokenForm()))
    form = TokenForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            token, key = api_token_create(actor=cast(User, request.user), **form.cleaned_data)
        except ServiceError as exc:
            form.add_service_error(exc.field, exc.message)
            status = exc.status
        else:
            # No redirect: the key exists only in this answer, which no cache may keep.
            context = _context(request, TokenForm(), created=token, created_key=key)
            response = _answer(request, context, 201)
            add_never_cache_headers(response)
            return response
    return _answer(request, _context(request, form), status)


@require_POST
@login_required
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    try:
        # The service only finds the person's own tokens: anyone else's is "no such token".
        api_token_revoke(token_id=token_id, actor=cast(User, request.user))
    except ServiceError as exc:
        return _answer(request, _context(request, TokenForm(), error=exc.message), exc.status)
    if not is_htmx(request):
        return redirect("accounts:tokens")
    return _answer(request, _context(request, TokenForm(), flash="Token revoked."), 200)


def _answer(request: HttpRequest, context: dict[str, Any], status: int) -> HttpResponse:
    template = f"{TEMPLATE}#board" if is_htmx(request) else TEMPLATE
    return render(request, template, context, status=status)


def _context(
    request: HttpRequest,
    form: TokenForm,
    *,
    created: ApiToken | None = None,
    created_key: str = "",
    flash: str = "",
    error: str = "",
) -> dict[str, Any]:
    tokens = list(ApiToken.objects.filter(user=cast(User, request.user)))
    return {
        "form": form,
        "tokens": tokens,
        "created": created,
        "created_key": created_key,
        "flash": flash,
        "error": error,
        "limit": MAX_TOKENS_PER_USER,
        "api_base": request.build_absolute_uri("/api/v1/"),
    }
