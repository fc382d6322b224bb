"""A mailed Approve/Reject link, for a release or for one wave's own sign-off: its confirmation
page (GET, which changes nothing) and the verdict posted from it. apps.signoffs.links decides
whether the link may still be used."""

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from apps.core.errors import ServiceError
from apps.rollouts.models import Wave
from apps.signoffs.forms import LinkVerdictForm
from apps.signoffs.links import (
    LinkRefused,
    approval_link_find,
    approval_link_refusal,
    approval_link_use,
)
from apps.signoffs.models import ApprovalLink, Decision, SignOff, SignoffRequirement

from .signoff import _context

TEMPLATE = "signoffs/link.html"
ANSWER = "signoffs/link_answer.html"


@never_cache
@require_http_methods(["GET", "POST"])
def approval_link_page(request: HttpRequest, token: str) -> HttpResponse:
    link = approval_link_find(token)
    if link is None:
        raise Http404("This approval link is not known. Check that the whole address was used.")
    if request.method == "POST":
        return _decide(request, link, token)
    refusal = approval_link_refusal(link, release=link.release, viewer=request.user)
    if refusal is not None:
        return _refused(request, link, refusal)
    hint = request.GET.get("decision")
    return render(request, TEMPLATE, _link_context(request, link, hint=hint))


def _decide(request: HttpRequest, link: ApprovalLink, token: str) -> HttpResponse:
    form = LinkVerdictForm(request.POST)
    if not form.is_valid():
        context = _link_context(request, link, hint=request.POST.get("decision"), form=form)
        return render(request, TEMPLATE, context, status=400)
    data = form.cleaned_data
    try:
        signoff = approval_link_use(
            token=token, decision=data["decision"], comment=data["comment"], viewer=request.user
        )
    except LinkRefused as exc:
        return _refused(request, link, exc)
    except ServiceError as exc:
        if exc.field == "comment":
            form.add_service_error(exc.field, exc.message)
            context = _link_context(request, link, hint=data["decision"], form=form)
            return render(request, TEMPLATE, context, status=exc.status)
        return _refused(request, link, exc)
    return _answer(request, link, signoff=signoff)


def _refused(request: HttpRequest, link: ApprovalLink, exc: ServiceError) -> HttpResponse:
    return _answer(request, link, refusal=exc, status=exc.status)


def _answer(
    request: HttpRequest,
    link: ApprovalLink,
    *,
    signoff: SignOff | None = None,
    refusal: ServiceError | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "release": link.release,
        "link": link,
        "wave": link.wave,
        "signoff": signoff,
        "refusal": refusal,
        "code": getattr(refusal, "code", ""),
    }
    return render(request, ANSWER, context, status=status)


def _link_context(
    request: HttpRequest,
    link: ApprovalLink,
    *,
    hint: str | None,
    form: LinkVerdictForm | None = None,
) -> dict[str, Any]:
    release = link.release
    return {
        **_context(request, release, user=link.user),
        "link": link,
        "approver": link.user,
        "hint": hint if hint in Decision.values else Decision.APPROVE,
        "link_form": form,
        "expires_at": timezone.localtime(link.expires_at),
        **_wave_context(link),
    }


def _wave_context(link: ApprovalLink) -> dict[str, Any]:
    """What a wave's link signs: the wave, where and how much it deploys, and the approvals its
    own sign-off asks for (the release's content is the rest of the page)."""
    if link.wave_id is None:
        return {"wave": None}
    wave = Wave.objects.select_related("environment").get(pk=link.wave_id)
    requirements = SignoffRequirement.objects.filter(wave=wave).select_related("role")
    return {"wave": wave, "wave_requirements": list(requirements)}
