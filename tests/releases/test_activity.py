"""Events in words: the audit log and the release page name what an event was about as the
pages do, never by internal model labels."""

import re

import pytest
from django.urls import reverse

from apps.rollouts import services as ro
from apps.rollouts.models import Wave
from apps.signoffs import services as so
from tests.builders import advance, planned_release

pytestmark = pytest.mark.django_db


def audit_texts(html: str) -> list[str]:
    return [
        re.sub(r"\s+", " ", text).strip()
        for text in re.findall(r'data-testid="event-text">(.*?)</span>', html, re.S)
    ]


def test_audit_log_names_waves_signoffs_and_roles_in_words(client, rita, alice, bob, vera):
    release = advance(planned_release(rita, qa=alice, business_owner=bob), rita, to="testing")
    so.signoff_give(release_id=release.pk, decision="approve", comment="Fine.", actor=bob)
    wave = Wave.objects.get(plan__release=release)
    ro.wave_update(wave_id=wave.pk, actor=rita, name="EU canary", percentage=10)
    client.force_login(vera)
    html = client.get(reverse("audit:page")).content.decode()

    texts = audit_texts(html)
    assert "approved as Business owner" in texts
    assert "changed wave “EU canary”" in texts
    assert "named alice as QA" in texts
    assert "moved the release to testing" in texts
    for internal in ("rollouts.wave", "signoffs.signoff", "releases.release #"):
        assert internal not in html


def test_an_event_about_something_since_deleted_keeps_its_number(client, rita, alice, bob, vera):
    release = planned_release(rita, qa=alice, business_owner=bob)
    extra = ro.wave_add(
        release_id=release.pk,
        name="Spare",
        environment_id=Wave.objects.get(plan__release=release).environment_id,
        actor=rita,
    )
    Wave.objects.filter(pk=extra.pk).delete()
    client.force_login(vera)
    texts = audit_texts(client.get(reverse("audit:page")).content.decode())
    assert f"added wave #{extra.pk}" in texts
