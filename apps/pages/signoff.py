"""The sign-off page: what an approver needs to decide (content, evidence, defects, earlier
verdicts, the policy) and the approve/reject form. The verdict goes through signoff_give."""

from collections import Counter
from dataclasses import dataclass
from typing import Any, cast

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.permissions import APPROVER, Action, holds, is_administrator, page_require
from apps.core.errors import NotAllowed, ServiceError
from apps.core.htmx import is_htmx, login_required, render_fragment
from apps.core.live import LivePass, live_poll
from apps.releases import rules
from apps.releases.models import DefectStatus, Release, TestStatus
from apps.releases.polling import release_live_parts, release_unchanged
from apps.releases.selectors import release_facts, releases_visible_to
from apps.rollouts.views.shared import signed_in
from apps.rollouts.wave_signoffs import wave_signoff_give
from apps.signoffs.eligibility import signoff_roles
from apps.signoffs.forms import SignoffForm, WaveSignoffForm
from apps.signoffs.models import Decision, SignOff, SignoffRequirement
from apps.signoffs.selectors import wave_asks, wave_facts
from apps.signoffs.services import SIGNING_PHASES, signoff_give
from apps.stakeholders.models import Stakeholder

TEMPLATE = "signoffs/page.html"
# The release page listens for this too, so both refresh after a verdict.
CHANGED_EVENT = "release-changed"
live_pass = LivePass("signoffs.live")


@dataclass(frozen=True)
class HistoryRow:
    """An earlier verdict on the release, and why it no longer counts (empty when it does)."""

    signoff: SignOff
    not_counted: str


def _get_visible(request: HttpRequest, release_id: int) -> Release:
    # Roles first, so a person without any learns nothing, not even whether the release exists.
    page_require(request.user, Action.VIEW)
    return get_object_or_404(
        releases_visible_to(request.user).select_related("created_by"), pk=release_id
    )


@require_http_methods(["GET", "POST"])
@login_required
def signoff_page(request: HttpRequest, release_id: int) -> HttpResponse:
    release = _get_visible(request, release_id)
    if request.method == "POST":
        return _sign(request, release)
    return render(request, TEMPLATE, _context(request, release))


def _sign(request: HttpRequest, release: Release) -> HttpResponse:
    # The permission module answers first: a forged POST is refused before its input is read.
    page_require(request.user, Action.SIGN_OFF, release)
    form = SignoffForm(request.POST, roles=_role_choices(request.user, release))
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        if data["fingerprint"] != release.fingerprint:
            form.add_error(
                None,
                "The release changed while you were reading it. Check its content and evidence "
                "again, then give your verdict.",
            )
            status = 409
        else:
            try:
                signoff_give(
                    release_id=release.pk,
                    decision=data["decision"],
                    comment=data["comment"],
                    role=data["role"] or None,
                    actor=cast(User, request.user),
                )
            except NotAllowed as exc:
                raise PermissionDenied(exc.message) from None
            except ServiceError as exc:
                form.add_service_error(exc.field, exc.message)
                status = exc.status
            else:
                if not is_htmx(request):
                    return redirect("signoffs:page", release_id=release.pk)
                release = _get_visible(request, release.pk)
                return render_fragment(
                    request, f"{TEMPLATE}#answer", _context(request, release), event=CHANGED_EVENT
                )
    context = _context(request, release, form=form)
    if is_htmx(request):
        return render(request, f"{TEMPLATE}#answer", context, status=status)
    return render(request, TEMPLATE, context, status=status)


@require_POST
@login_required
def wave_sign(request: HttpRequest, release_id: int, wave_id: int) -> HttpResponse:
    """A verdict on one wave's own sign-off, from the wave's card on the sign-off page."""
    from apps.rollouts.models import Wave

    release = _get_visible(request, release_id)
    page_require(request.user, Action.SIGN_OFF)
    if not holds(request.user, {APPROVER}, release) and not is_administrator(request.user):
        # Refused before the form is read, as the wave's own rule would refuse it later.
        raise PermissionDenied(
            "Only approvers in the team that owns this release sign its waves off."
        )
    wave = get_object_or_404(Wave, pk=wave_id, plan__release=release)
    form = WaveSignoffForm(request.POST)
    error: dict[str, Any] = {"wave_id": wave.pk, "comment": request.POST.get("comment", "")}
    status = 400
    if not form.is_valid():
        field, messages = next(iter(form.errors.items()))
        error.update(field=field, message=f"{field}: {messages[0]}")
    elif form.cleaned_data["fingerprint"] != release.fingerprint:
        error["message"] = (
            "The release changed while you were reading it. Check its content again, then "
            "give your verdict."
        )
        status = 409
    else:
        data = form.cleaned_data
        try:
            wave_signoff_give(
                wave_id=wave.pk,
                decision=data["decision"],
                comment=data["comment"],
                role=data["role"] or None,
                actor=signed_in(request),
            )
        except NotAllowed as exc:
            raise PermissionDenied(exc.message) from None
        except ServiceError as exc:
            error.update(field=exc.field, message=exc.message)
            status = exc.status
        else:
            if not is_htmx(request):
                return redirect(f"{reverse('signoffs:page', args=[release.pk])}#wave-{wave.pk}")
            release = _get_visible(request, release.pk)
            return render_fragment(
                request, f"{TEMPLATE}#waves", _context(request, release), event=CHANGED_EVENT
            )
    context = {**_context(request, release), "wave_error": error}
    if is_htmx(request):
        return render(request, f"{TEMPLATE}#waves", context, status=status)
    return render(request, TEMPLATE, context, status=status)


@require_GET
@live_poll(live_pass, release_unchanged)
@login_required
def signoff_live(request: HttpRequest, release_id: int) -> HttpResponse:
    """Polled by an open sign-off page: 204 while nothing changed, else the page's live parts."""
    return release_live_parts(request, release_id, TEMPLATE, _context)


def _role_choices(user: Any, release: Release) -> list[tuple[str, str]]:
    eligible = signoff_roles(user, release)
    names = dict(
        SignoffRequirement.objects.filter(
            release=release, wave__isnull=True, role__slug__in=eligible
        ).values_list("role__slug", "role__name")
    )
    return [(slug, names.get(slug, slug)) for slug in eligible]


def _context(
    request: HttpRequest, release: Release, *, form: SignoffForm | None = None, user: Any = None
) -> dict[str, Any]:
    """Everything the page shows, read in a fixed number of queries; for `user` when given (the
    approver a mailed link is for), else for the signed-in person."""
    user = request.user if user is None else user
    facts = release_facts(release)
    tally = rules.signoff_tally(facts)
    requirements = list(
        SignoffRequirement.objects.filter(release=release, wave__isnull=True)
        .select_related("role")
        .order_by("role__slug")
    )
    stakeholders = list(Stakeholder.objects.filter(release=release).select_related("user", "role"))
    held = {(s.user_id, s.role.slug) for s in stakeholders}
    history = [
        HistoryRow(signoff=signoff, not_counted=_why_not_counted(signoff, release, facts, held))
        for signoff in SignOff.objects.filter(release=release, wave__isnull=True)
        .select_related("signer", "role")
        .order_by("-created_at", "-id")
    ]
    counted = [row.signoff for row in history if not row.not_counted]
    verdicts: dict[tuple[int, str], SignOff] = {}
    for signoff in counted:
        verdicts.setdefault((signoff.signer_id, signoff.role.slug), signoff)
    approvals = Counter(s.role.slug for s in counted if s.decision == Decision.APPROVE)
    policy = []
    for req in requirements:
        slug = req.role.slug
        policy.append(
            {
                "role": req.role,
                "needed": req.count,
                "approved": approvals.get(slug, 0),
                "shown": min(approvals.get(slug, 0), req.count),
                "missing": tally.missing.get(slug, 0),
                "people": [
                    {"user": s.user, "verdict": verdicts.get((s.user_id, slug))}
                    for s in stakeholders
                    if s.role.slug == slug
                ],
            }
        )
    eligible = signoff_roles(user, release)
    names = {req.role.slug: req.role.name for req in requirements}
    my_signoff = next(
        (
            row.signoff
            for row in history
            if row.signoff.signer_id == user.pk and row.signoff.fingerprint == release.fingerprint
        ),
        None,
    )
    test_cases = list(release.test_cases.select_related("recorded_by"))
    counts = Counter(case.status for case in test_cases)
    defects = list(release.defects.select_related("opened_by"))
    open_defects = [d for d in defects if d.status == DefectStatus.OPEN]
    signing_open = release.phase in SIGNING_PHASES
    return {
        "waves": _wave_cards(user, release, stakeholders),
        "release": release,
        "live_pass": live_pass.issue(user, release.pk),
        "terminal": release.phase in rules.TERMINAL,
        "tally": tally,
        "policy": policy,
        "missing": [
            {"role": names.get(slug, slug), "count": count} for slug, count in tally.missing.items()
        ],
        "history": history,
        "eligible": eligible,
        "role_choices": [(slug, names.get(slug, slug)) for slug in eligible],
        "my_signoff": my_signoff,
        "signing_open": signing_open,
        "can_decide": bool(eligible) and signing_open and my_signoff is None,
        "why_not": _why_not(user, release, eligible, requirements, stakeholders),
        "form": form,
        "test_cases": test_cases,
        "test_summary": [
            {"status": status.value, "label": status.label, "count": counts[status.value]}
            for status in TestStatus
            if counts[status.value]
        ],
        "tests_done": counts[TestStatus.PASSED] + counts[TestStatus.WAIVED],
        "open_defects": open_defects,
        "blocking_defects": sum(1 for d in open_defects if d.severity in rules.BLOCKING_SEVERITIES),
        "closed_defects": len(defects) - len(open_defects),
    }


def _why_not_counted(
    signoff: SignOff, release: Release, facts: rules.ReleaseFacts, held: set[tuple[int, str]]
) -> str:
    """Why an earlier verdict no longer counts towards the policy; empty when it counts."""
    if signoff.fingerprint != release.fingerprint:
        return "Given for earlier content: the version, build or scope changed since."
    if (signoff.signer_id, signoff.role.slug) not in held:
        return f"The signer is no longer named as {signoff.role.name} on this release."
    fact = signoff.fact()
    if not rules.is_current(fact, facts):
        return f"Expired: sign-offs count for {release.signoff_expiry_days} days."
    return ""


def _why_not(
    user: Any,
    release: Release,
    eligible: list[str],
    requirements: list[SignoffRequirement],
    stakeholders: list[Stakeholder],
) -> str:
    """Why this person gets no sign-off form, in their terms; empty when they may sign."""
    if eligible:
        if release.phase not in SIGNING_PHASES:
            return (
                "Sign-offs are given while the release is in preparation or testing; "
                f"it is in {release.get_phase_display().lower()}."
            )
        return ""
    if user.pk == release.owner_id:
        return "You own this release, so you cannot sign it off (separation of duties)."
    if user.pk == release.created_by_id:
        return "You created this release, so you cannot sign it off (separation of duties)."
    if not holds(user, {APPROVER}, release) and not is_administrator(user):
        if holds(user, {APPROVER}):
            return (
                "Only approvers sign releases off, and you are not an approver in the team "
                "that owns this release."
            )
        return "Only approvers sign releases off, and you do not hold the approver role."
    if not requirements:
        return "This release has no sign-off policy yet, so there is nothing to sign."
    wanted = ", ".join(req.role.name for req in requirements)
    mine = sorted({s.role.name for s in stakeholders if s.user_id == user.pk})
    if mine:
        return f"You are named here as {', '.join(mine)}, but the policy asks for {wanted}."
    return f"You are not named on this release in a role the policy asks for ({wanted})."


def _wave_cards(
    user: Any, release: Release, stakeholders: list[Stakeholder]
) -> list[dict[str, Any]]:
    """Each wave with its own sign-off requirement: what it needs, who gave what, and whether
    this person may sign it now. A fixed number of queries, whatever the plan's size."""
    from apps.rollouts.models import Wave, WaveState

    facts = wave_facts(release, now=timezone.now())
    if not facts:
        return []
    asks = wave_asks(user, release, facts)
    waves = Wave.objects.filter(pk__in=list(facts)).select_related("environment")
    requirements = SignoffRequirement.objects.filter(wave_id__in=list(facts)).select_related("role")
    verdicts = (
        SignOff.objects.filter(wave_id__in=list(facts))
        .select_related("signer", "role")
        .order_by("-created_at", "-id")
    )
    lines: dict[int, list[SignoffRequirement]] = {}
    for req in requirements.order_by("role__slug"):
        lines.setdefault(cast(int, req.wave_id), []).append(req)  # filtered by wave above
    given: dict[int, list[SignOff]] = {}
    for signoff in verdicts:
        given.setdefault(cast(int, signoff.wave_id), []).append(signoff)
    held = {(s.user_id, s.role.slug) for s in stakeholders}
    not_started = (WaveState.PENDING, WaveState.SCHEDULED, WaveState.WAITING)
    rolling = release.phase == rules.ROLLOUT
    cards = []
    for wave in sorted(waves, key=lambda w: w.position):
        ask = asks[wave.pk]
        history = given.get(wave.pk, [])
        current = [s for s in history if _counts(s, facts[wave.pk], held)]
        mine = next(
            (s for s in history if s.signer_id == user.pk and s.fingerprint == release.fingerprint),
            None,
        )
        names = {req.role.slug: req.role.name for req in lines[wave.pk]}
        open_now = rolling and wave.state in not_started
        if not ask.roles:
            why_not = ""
        elif not rolling:
            why_not = (
                "A wave's own sign-off is given while the release rolls out; it is in "
                f"{release.get_phase_display().lower()}."
            )
        elif not open_now:
            why_not = f"The wave is {wave.get_state_display().lower()}; its sign-off is closed."
        else:
            why_not = ""
        cards.append(
            {
                "wave": wave,
                "tally": ask.tally,
                "met": not ask.tally.missing and not ask.tally.rejected,
                "lines": [
                    {
                        "role": req.role,
                        "needed": req.count,
                        "approved": req.count - ask.tally.missing.get(req.role.slug, 0),
                        "missing": ask.tally.missing.get(req.role.slug, 0),
                        "people": [
                            {
                                "user": s.user,
                                "verdict": next(
                                    (v for v in current if v.signer_id == s.user_id), None
                                ),
                            }
                            for s in stakeholders
                            if s.role.slug == req.role.slug
                        ],
                    }
                    for req in lines[wave.pk]
                ],
                "history": history,
                "mine": mine,
                "roles": [(slug, names[slug]) for slug in ask.roles],
                "can_sign": bool(ask.roles) and open_now and mine is None,
                "why_not": why_not,
            }
        )
    return cards


def _counts(signoff: SignOff, facts: rules.ReleaseFacts, held: set[tuple[int, str]]) -> bool:
    fact = signoff.fact(role_held=(signoff.signer_id, signoff.role.slug) in held)
    return rules.is_current(fact, facts)
