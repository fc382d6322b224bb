import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from tests.builders import advance, planned_release

PROJECT_APPS = [
    "accounts",
    "audit",
    "environments",
    "releases",
    "stakeholders",
    "signoffs",
    "rollouts",
    "notifications",
    "dashboard",
]


def project_models():
    return [m for label in PROJECT_APPS for m in apps.get_app_config(label).get_models()]


@pytest.mark.parametrize("model", project_models(), ids=lambda m: m._meta.label)
def test_every_model_is_in_the_admin(model):
    assert admin.site.is_registered(model)


@pytest.mark.django_db
def test_admin_lists_every_model_for_an_administrator(client, root, rita, alice, bob):
    release = planned_release(rita, qa=alice, business_owner=bob)
    advance(release, rita, qa=alice, business_owner=bob, to="rollout")
    client.force_login(root)
    for model in project_models():
        meta = model._meta
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        response = client.get(url)
        assert response.status_code == 200, url
        obj = model.objects.first()
        if obj is not None:
            change = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
            assert client.get(change).status_code == 200, change


@pytest.mark.django_db
def test_admin_refuses_editing_audit_events(client, root, rita, alice, bob):
    planned_release(rita, qa=alice, business_owner=bob)
    from apps.audit.models import AuditEvent

    event = AuditEvent.objects.first()
    client.force_login(root)
    url = reverse("admin:audit_auditevent_change", args=[event.pk])
    response = client.post(url, {"reason": "rewritten"})
    assert response.status_code == 403
    event.refresh_from_db()
    assert event.reason != "rewritten"


@pytest.mark.django_db
def test_admin_is_closed_to_non_staff(client, rita):
    client.force_login(rita)
    response = client.get(reverse("admin:releases_release_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.django_db
def test_admin_keeps_a_release_on_its_application(client, root, rita, alice, bob):
    # Its waves keep a copy of the application; only a new release chooses one.
    release = planned_release(rita, qa=alice, business_owner=bob)
    client.force_login(root)
    change = client.get(reverse("admin:releases_release_change", args=[release.pk]))
    assert change.status_code == 200
    assert 'name="application"' not in change.content.decode()
    assert release.application.name in change.content.decode()
    add = client.get(reverse("admin:releases_release_add"))
    assert 'name="application"' in add.content.decode()
