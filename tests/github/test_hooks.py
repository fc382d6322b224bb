"""An undecided request is looked at again as soon as its release moves or a wave changes
state, and only where the integration is set up."""

import pytest
from celery.signals import before_task_publish

from apps.releases import services as rs
from apps.rollouts.models import Wave
from apps.rollouts.transitions import wave_transition

from .conftest import release_at

pytestmark = pytest.mark.django_db


@pytest.fixture
def published():
    sent: list[tuple[str, dict]] = []

    def record(sender=None, body=None, **_):
        sent.append((sender, body[1] if body else {}))

    before_task_publish.connect(record, weak=False)
    yield sent
    before_task_publish.disconnect(record)


def github_looks(published) -> list[dict]:
    return [kwargs for name, kwargs in published if name == "apps.github.tasks.reevaluate"]


def test_a_wave_change_and_a_release_move_ask_for_a_look(
    github, rita, alice, bob, published, django_capture_on_commit_callbacks
):
    release = release_at(rita, alice, bob, "rollout")
    wave = Wave.objects.get(plan__release=release)
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        wave_transition(wave_id=wave.pk, to="deploying", actor=None)
    assert github_looks(published) == [{"plan_id": wave.plan_id}]
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        rs.release_move(release_id=release.pk, to="rolled_back", reason="Errors.", actor=rita)
    assert {"release_id": release.pk} in github_looks(published)


def test_nothing_is_sent_where_the_integration_is_off(
    rita, alice, bob, published, settings, django_capture_on_commit_callbacks
):
    settings.RELEASEDECK_GITHUB_WEBHOOK_SECRET = ""
    release = release_at(rita, alice, bob, "rollout")
    wave = Wave.objects.get(plan__release=release)
    with django_capture_on_commit_callbacks(execute=True):
        wave_transition(wave_id=wave.pk, to="deploying", actor=None)
        rs.release_move(release_id=release.pk, to="rolled_back", reason="Errors.", actor=rita)
    assert github_looks(published) == []
