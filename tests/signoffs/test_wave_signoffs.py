"""A wave's own sign-off (e.g. 1 × business_owner before prod-eu): given for that wave, during
rollout, by a stakeholder of the named role, bound to the release's content, counted by the
release policy's tally rule; the approvers are asked once when the wave comes up."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.notifications.models import Notification
from apps.releases.models import Release
from apps.rollouts import services as ro
from apps.rollouts.models import Wave
from apps.rollouts.runner import rollouts_tick, wave_step
from apps.rollouts.transitions import wave_transition
from apps.rollouts.wave_signoffs import wave_signoff_give
from apps.signoffs import services as so
from apps.signoffs.models import SignOff, SignoffRequirement
from apps.stakeholders import services as sh
from apps.stakeholders.models import Stakeholder
from tests.builders import advance, planned_release
from tests.factories import UserFactory, give

pytestmark = pytest.mark.django_db


def url(wave: Wave) -> str:
    return f"/api/v1/waves/{wave.pk}/signoffs/"


def approver(username: str):
    user = UserFactory(username=username)
    give(user, "approver")
    return user


def rolling(rita, alice, bob, *, expiry_days: int | None = None) -> tuple[Release, Wave]:
    """CRM 2.0.0 rolling out (alice qa, bob business owner, both approved the release); its
    one wave, prod-eu, needs 1 × business_owner of its own."""
    release = planned_release(rita, qa=alice, business_owner=bob)
    if expiry_days:
        so.policy_set(
            release_id=release.pk,
            requirements=[{"role": "qa", "count": 1}, {"role": "business_owner", "count": 1}],
            expiry_days=expiry_days,
            actor=rita,
        )
    release = advance(release, rita, qa=alice, business_owner=bob, to="rollout")
    wave = Wave.objects.get(plan__release=release)
    ro.wave_requirement_set(wave_id=wave.pk, role="business_owner", count=1, actor=rita)
    return release, wave


@pytest.fixture
def signed_wave(rita, alice, bob):
    return rolling(rita, alice, bob)


def run_engine(release: Release, now) -> None:
    """Beat and a worker at `now`, for simulated waves: tick, then every due wave step."""
    for _ in range(30):
        rollouts_tick(now=now)
        due = list(
            Wave.objects.filter(plan__release=release, next_step_at__lte=now)
            .exclude(state__in=["succeeded", "failed", "rolled_back", "skipped", "halted"])
            .values_list("pk", flat=True)
        )
        if not due:
            return
        for wave_id in due:
            wave_step(wave_id=wave_id, now=now)
    raise AssertionError("the engine kept finding due work")


def state(wave: Wave) -> str:
    wave.refresh_from_db()
    return wave.state


# ---- The API ----


def test_business_owner_signs_the_wave_through_the_api(client, signed_wave, bob):
    release, wave = signed_wave
    client.force_login(bob)
    first = client.post(url(wave), {"decision": "approve", "comment": "Go."}, "application/json")
    assert first.status_code == 201, first.json()
    body = first.json()
    assert body["wave"] == wave.pk and body["role"] == "business_owner"
    assert body["fingerprint"] == release.fingerprint and body["current"] is True
    again = client.post(url(wave), {"decision": "approve"}, "application/json")
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    listed = client.get(url(wave)).json()
    assert [row["id"] for row in listed["results"]] == [body["id"]]
    changed = client.post(url(wave), {"decision": "reject", "comment": "No."}, "application/json")
    assert changed.status_code == 409


@pytest.mark.parametrize("who", ["alice", "rita", "oscar", "vera", "charlie"])
def test_nobody_but_a_stakeholder_of_the_named_role_signs_the_wave(
    client, request, signed_wave, who
):
    _, wave = signed_wave
    client.force_login(request.getfixturevalue(who))
    response = client.post(url(wave), {"decision": "approve"}, "application/json")
    assert response.status_code == 403, response.json()
    assert not SignOff.objects.filter(wave=wave).exists()


def test_the_owner_cannot_sign_their_own_wave_even_as_its_business_owner(client, signed_wave, rita):
    release, wave = signed_wave
    give(rita, "approver")
    sh.stakeholder_add(release_id=release.pk, user_id=rita.pk, role="business_owner", actor=rita)
    client.force_login(rita)
    response = client.post(url(wave), {"decision": "approve"}, "application/json")
    assert response.status_code == 403
    assert "own or created" in response.json()["detail"]


def test_anonymous_is_asked_to_sign_in(client, signed_wave):
    _, wave = signed_wave
    assert client.post(url(wave), {"decision": "approve"}, "application/json").status_code == 401


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_wrong_method_is_refused(client, signed_wave, bob, method):
    _, wave = signed_wave
    client.force_login(bob)
    response = getattr(client, method)(url(wave), {}, "application/json")
    assert response.status_code == 405


def test_a_wave_is_not_signed_before_the_release_rolls_out(client, rita, alice, bob):
    release = advance(planned_release(rita, qa=alice, business_owner=bob), rita, to="testing")
    wave = Wave.objects.get(plan__release=release)
    ro.wave_requirement_set(wave_id=wave.pk, role="business_owner", count=1, actor=rita)
    client.force_login(bob)
    response = client.post(url(wave), {"decision": "approve"}, "application/json")
    assert response.status_code == 409
    assert response.json()["detail"] == (
        "A wave's own sign-off is given while the release rolls out, not in testing."
    )


def test_a_wave_without_a_requirement_or_already_started_is_not_signed(
    client, signed_wave, rita, bob
):
    release, wave = signed_wave
    client.force_login(bob)
    ro.wave_requirement_set(wave_id=wave.pk, role="business_owner", count=0, actor=rita)
    response = client.post(url(wave), {"decision": "approve"}, "application/json")
    assert response.status_code == 409
    assert "no sign-off requirement" in response.json()["detail"]
    ro.wave_requirement_set(wave_id=wave.pk, role="business_owner", count=1, actor=rita)
    wave_transition(wave_id=wave.pk, to="deploying", actor=None)
    response = client.post(url(wave), {"decision": "approve"}, "application/json")
    assert response.status_code == 409
    assert "deploying" in response.json()["detail"]


def test_unknown_wave_is_404_and_bad_input_400(client, signed_wave, bob):
    _, wave = signed_wave
    client.force_login(bob)
    assert client.get("/api/v1/waves/999999/signoffs/").status_code == 404
    missing = client.post(
        "/api/v1/waves/999999/signoffs/", {"decision": "approve"}, "application/json"
    )
    assert missing.status_code == 404
    bad = client.post(url(wave), {"decision": "maybe"}, "application/json")
    assert bad.status_code == 400 and bad.json()["field"] == "decision"
    silent = client.post(url(wave), {"decision": "reject"}, "application/json")
    assert silent.status_code == 400 and silent.json()["field"] == "comment"


# ---- The engine: the wave waits, its approvers are asked once, the approval starts it ----


def test_the_wave_waits_asks_its_approvers_once_and_starts_after_the_approval(
    client, signed_wave, alice, bob
):
    release, wave = signed_wave
    # bob's approval of the release itself does not count for the wave.
    assert SignOff.objects.filter(release=release, signer=bob, wave__isnull=True).exists()
    run_engine(release, timezone.now())
    assert state(wave) == "waiting"
    assert wave.state_reason == (
        "prod-eu 100%: needs 1 more business owner approval before it starts"
    )
    asked = Notification.objects.filter(
        event="signoff.requested", channel="email", payload__wave__id=wave.pk
    )
    assert list(asked.values_list("recipient", flat=True)) == [bob.email]
    request = asked.get()
    assert request.payload["wave"]["id"] == wave.pk
    assert f"/releases/{release.pk}/sign/#wave-{wave.pk}" in request.body
    assert SignoffRequirement.objects.get(wave=wave).requested_at is not None

    later = timezone.now() + timedelta(minutes=5)
    Wave.objects.filter(pk=wave.pk).update(next_step_at=later)
    assert wave_step(wave_id=wave.pk, now=later) == "waiting"
    assert asked.count() == 1  # asked once, not at every look

    client.force_login(bob)
    response = client.post(url(wave), {"decision": "approve"}, "application/json")
    assert response.status_code == 201
    wave.refresh_from_db()
    assert wave.next_step_at <= timezone.now()  # woken at once
    assert wave_step(wave_id=wave.pk, now=timezone.now()) == "deploying"
    run_engine(release, timezone.now())
    assert state(wave) == "verifying" and wave.started_at is not None


def test_an_expired_wave_approval_does_not_open_the_wave(rita, alice, bob):
    release, wave = rolling(rita, alice, bob, expiry_days=2)
    signoff, created = wave_signoff_give(wave_id=wave.pk, decision="approve", actor=bob)
    assert created
    SignOff.objects.filter(pk=signoff.pk).update(created_at=timezone.now() - timedelta(days=3))
    run_engine(release, timezone.now())
    assert state(wave) == "waiting"
    assert "needs 1 more business owner approval" in wave.state_reason


def test_an_approval_by_someone_no_longer_business_owner_does_not_open_the_wave(
    signed_wave, rita, bob
):
    release, wave = signed_wave
    dora = approver("dora")
    sh.stakeholder_add(release_id=release.pk, user_id=dora.pk, role="business_owner", actor=rita)
    wave_signoff_give(wave_id=wave.pk, decision="approve", actor=dora)
    sh.stakeholder_remove(
        stakeholder_id=Stakeholder.objects.get(release=release, user=dora).pk, actor=rita
    )
    run_engine(release, timezone.now())
    assert state(wave) == "waiting"
    assert "needs 1 more business owner approval" in wave.state_reason


def test_a_rejection_keeps_the_wave_waiting(signed_wave, bob):
    release, wave = signed_wave
    wave_signoff_give(wave_id=wave.pk, decision="reject", comment="Not today.", actor=bob)
    run_engine(release, timezone.now())
    assert state(wave) == "waiting"
    assert "a stakeholder rejected this wave" in wave.state_reason


def test_a_wave_not_yet_current_asks_nobody(rita, alice, bob, prod_us):
    release = planned_release(rita, qa=alice, business_owner=bob)
    ro.wave_add(release_id=release.pk, name="prod-us 100%", environment_id=prod_us.pk, actor=rita)
    release = advance(release, rita, qa=alice, business_owner=bob, to="rollout")
    first, second = Wave.objects.filter(plan__release=release).order_by("position")
    for wave in (first, second):
        ro.wave_update(wave_id=wave.pk, bake_minutes=0, actor=rita)
    ro.wave_requirement_set(wave_id=second.pk, role="business_owner", count=1, actor=rita)
    ro.wave_requirement_set(wave_id=first.pk, role="qa", count=1, actor=rita)
    run_engine(release, timezone.now())
    assert state(first) == "waiting"
    wave_requests = Notification.objects.filter(
        event="signoff.requested", payload__wave__id__in=[first.pk, second.pk]
    )
    assert list(wave_requests.values_list("recipient", flat=True)) == [alice.email]
    # An approval given ahead of time for the later wave is fine: it is not asked for later.
    wave_signoff_give(wave_id=second.pk, decision="approve", actor=bob)
    wave_signoff_give(wave_id=first.pk, decision="approve", actor=alice)
    run_engine(release, timezone.now())
    assert state(first) == "succeeded" and state(second) == "succeeded"
    assert wave_requests.count() == 1


@pytest.fixture
def prod_us():
    from tests.factories import EnvironmentFactory

    return EnvironmentFactory(name="prod-us", region="us", time_zone="America/New_York")


# ---- The sign-off page ----


def sign_page(release: Release) -> str:
    return f"/releases/{release.pk}/sign/"


def wave_form(release: Release, wave: Wave) -> str:
    return f"/releases/{release.pk}/sign/waves/{wave.pk}/"


def test_the_sign_off_page_asks_the_business_owner_for_the_wave(client, signed_wave, bob):
    release, wave = signed_wave
    client.force_login(bob)
    html = client.get(sign_page(release)).content.decode()
    assert f'id="wave-{wave.pk}"' in html
    assert "This wave waits for your sign-off before it starts." in html
    assert f'hx-post="{wave_form(release, wave)}"' in html

    response = client.post(
        wave_form(release, wave),
        {"decision": "approve", "comment": "Go.", "fingerprint": release.fingerprint},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert "release-changed" in response["HX-Trigger-After-Settle"]
    fragment = response.content.decode()
    assert f"You approved {wave.name} as Business owner" in fragment
    assert SignOff.objects.get(wave=wave, signer=bob).decision == "approve"


def test_the_page_refuses_a_rejection_without_comment_and_stale_content(client, signed_wave, bob):
    release, wave = signed_wave
    client.force_login(bob)
    silent = client.post(
        wave_form(release, wave),
        {"decision": "reject", "fingerprint": release.fingerprint},
        HTTP_HX_REQUEST="true",
    )
    assert silent.status_code == 400
    assert "a rejection needs a comment" in silent.content.decode()
    stale = client.post(
        wave_form(release, wave),
        {"decision": "approve", "fingerprint": "0" * 64},
        HTTP_HX_REQUEST="true",
    )
    assert stale.status_code == 409
    assert not SignOff.objects.filter(wave=wave).exists()


def test_others_see_the_wave_request_but_no_form_and_cannot_post(client, signed_wave, alice, vera):
    release, wave = signed_wave
    client.force_login(alice)
    html = client.get(sign_page(release)).content.decode()
    assert f'id="wave-{wave.pk}"' in html and "Business owner" in html
    assert f'hx-post="{wave_form(release, wave)}"' not in html
    body = {"decision": "approve", "fingerprint": release.fingerprint}
    assert client.post(wave_form(release, wave), body).status_code == 403
    client.force_login(vera)
    assert client.post(wave_form(release, wave), body).status_code == 403
    assert not SignOff.objects.filter(wave=wave).exists()


def test_the_wave_form_takes_only_post(client, signed_wave, bob):
    release, wave = signed_wave
    client.force_login(bob)
    assert client.get(wave_form(release, wave)).status_code == 405


# ---- The dashboard and the console ask the approver ----


def waiting_items(client) -> list[str]:
    import re

    html = client.get("/dashboard/").content.decode()
    match = re.search(r'data-testid="waiting">(.*?)</ul>', html, re.S)
    if not match:
        return []
    return [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", item)).strip()
        for item in re.findall(r'<li class="dash-wait-item">(.*?)</li>', match.group(1), re.S)
    ]


def test_the_dashboard_lists_the_wave_under_sign_offs_waiting_for_me(
    client, signed_wave, alice, bob
):
    release, wave = signed_wave
    client.force_login(bob)
    items = waiting_items(client)
    assert len(items) == 1 and items[0].startswith("CRM 2.0.0 wave prod-eu 100% as Business owner")
    html = client.get("/dashboard/").content.decode()
    assert f'href="/releases/{release.pk}/sign/#wave-{wave.pk}"' in html
    client.force_login(alice)  # qa: the wave does not ask for her
    assert waiting_items(client) == []

    wave_signoff_give(wave_id=wave.pk, decision="approve", actor=bob)
    client.force_login(bob)
    assert waiting_items(client) == []


def test_an_expired_wave_verdict_puts_the_wave_back_on_my_list(client, rita, alice, bob):
    release, wave = rolling(rita, alice, bob, expiry_days=2)
    signoff, _ = wave_signoff_give(wave_id=wave.pk, decision="approve", actor=bob)
    client.force_login(bob)
    assert waiting_items(client) == []
    SignOff.objects.filter(pk=signoff.pk).update(created_at=timezone.now() - timedelta(days=3))
    assert [i.split(" as ")[0] for i in waiting_items(client)] == ["CRM 2.0.0 wave prod-eu 100%"]


def test_the_console_tells_the_approver_the_wave_waits_for_them(client, signed_wave, alice, bob):
    release, wave = signed_wave
    console = f"/releases/{release.pk}/console/"
    client.force_login(bob)
    html = client.get(console).content.decode()
    assert 'data-testid="asking-me"' in html
    assert (
        f'href="/releases/{release.pk}/sign/#wave-{wave.pk}">{wave.name}</a> as Business owner'
        in html
    )
    client.force_login(alice)
    assert 'data-testid="asking-me"' not in client.get(console).content.decode()
    wave_signoff_give(wave_id=wave.pk, decision="approve", actor=bob)
    client.force_login(bob)
    assert 'data-testid="asking-me"' not in client.get(console).content.decode()


def test_the_release_page_names_the_wave_a_sign_off_was_given_for(client, signed_wave, bob):
    release, wave = signed_wave
    wave_signoff_give(wave_id=wave.pk, decision="approve", actor=bob)
    client.force_login(bob)
    html = client.get(f"/releases/{release.pk}/").content.decode()
    assert "as Business owner, for wave prod-eu 100%" in html


def test_the_creator_cannot_sign_a_wave_of_a_release_someone_else_owns(rita, alice, bob):
    from apps.core.errors import NotAllowed
    from apps.releases.models import Release as ReleaseModel

    release, wave = rolling(rita, alice, bob)
    ReleaseModel.objects.filter(pk=release.pk).update(owner=alice)
    give(rita, "approver")
    sh.stakeholder_add(release_id=release.pk, user_id=rita.pk, role="business_owner", actor=rita)
    with pytest.raises(NotAllowed):
        wave_signoff_give(wave_id=wave.pk, decision="approve", actor=rita)
