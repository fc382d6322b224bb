import pytest
from django.test import Client

from apps.audit.models import AuditEvent
from apps.audit.services import audit_verify


@pytest.mark.django_db
def test_a_failed_sign_in_is_an_audit_event_without_the_password(vera):
    response = Client(REMOTE_ADDR="127.0.0.9").post(
        "/accounts/login/", {"username": "vera", "password": "not-her-password"}
    )
    assert response.status_code == 200
    event = AuditEvent.objects.get(verb="login.failed")
    assert event.actor_id is None
    assert event.object_id == "vera"
    assert event.after == {"username": "vera", "address": "127.0.0.9"}
    assert "not-her-password" not in str(event.after) + event.reason
    assert audit_verify()[1] is None


@pytest.mark.django_db
def test_a_successful_sign_in_writes_no_failure_event(vera):
    Client().post("/accounts/login/", {"username": "vera", "password": "pw"})
    assert not AuditEvent.objects.filter(verb="login.failed").exists()


@pytest.mark.django_db
def test_an_unknown_username_is_recorded_too(roles_seeded):
    Client().post("/accounts/login/", {"username": "nobody", "password": "x"})
    assert list(
        AuditEvent.objects.filter(verb="login.failed").values_list("object_id", flat=True)
    ) == ["nobody"]
