"""The rollout console shows a rollback still waiting for the deploy tool, and the release's
automatic-rollback cap once it applies."""

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.releases.services import record_change
from apps.rollouts.models import Wave
from tests.factories import EnvironmentFactory
from tests.rollouts.test_engine_steps import (
    report_sent_deploys,
    run_engine,
    tool,
    tool_report,
    waves_of,
    webhook_release,
)

pytestmark = pytest.mark.django_db


def console(client, user, release) -> str:
    client.force_login(user)
    response = client.get(reverse("rollouts:console", args=[release.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_console_shows_a_rollback_waiting_for_the_deploy_tool(client, rita, oscar):
    env = EnvironmentFactory(name="prod-eu", region="eu")
    with tool() as (url, _):
        release = webhook_release(rita, url, [env], bake=30)
        run_engine(release, timezone.now())
        report_sent_deploys(release)
        run_engine(release, timezone.now())
        client.force_login(oscar)
        (wave,) = waves_of(release)
        operated = client.post(
            reverse("rollouts:operate", args=[release.pk, wave.pk, "rollback"]),
            {"reason": "Wrong totals"},
            HTTP_HX_REQUEST="true",
        )
        assert "Rollback of prod-eu 10% requested; waiting for the deploy tool." in (
            operated.content.decode()
        )
        html = console(client, oscar, release)
        assert 'data-testid="focus-rollback">Rolling back<' in html
        assert 'data-testid="rollback-pending"' in html
        assert "Verifying" in html  # its state until the tool confirms
        assert 'aria-haspopup="dialog">Roll back</button>' not in html  # nothing to press

        run_engine(release, timezone.now())
        (call,) = wave.deploy_calls.filter(action="rollback")
        tool_report(call)
        run_engine(release, timezone.now())
    html = console(client, oscar, release)
    assert 'data-testid="focus-rollback"' not in html
    assert Wave.objects.get(pk=wave.pk).state == "rolled_back"


def test_console_shows_the_automatic_rollback_cap_once_the_release_reaches_it(
    client, rita, oscar, settings
):
    settings.RELEASEDECK_AUTO_ROLLBACKS_PER_RELEASE_HOUR = 2
    env = EnvironmentFactory(name="prod-eu", region="eu")
    with tool() as (url, _):
        release = webhook_release(rita, url, [env], policy="rollback")
    other = webhook_release(rita, "http://127.0.0.1:9", [env], policy="rollback")
    html = console(client, oscar, release)
    assert 'data-testid="auto-rollback-cap"' not in html

    record_change(release_id=release.pk, actor=None, verb="rollout.auto_rollback", obj=release)
    html = console(client, oscar, release)
    assert "Automatic rollbacks of this release in the last hour: 1 of 2." in html

    record_change(release_id=release.pk, actor=None, verb="rollout.auto_rollback", obj=release)
    html = console(client, oscar, release)
    assert "Automatic rollback is off for this release for now" in html
    assert "the cap of 2" in html
    # Another release's count is its own.
    assert 'data-testid="auto-rollback-cap"' not in console(client, oscar, other)
