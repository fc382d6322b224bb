"""The audit trail: append-only in PostgreSQL, hash-chained, and verified by `audit_verify`."""

from datetime import UTC

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from apps.audit.chain import GENESIS, event_digest
from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.releases import services as rs
from apps.releases.models import Release
from tests.builders import planned_release

TRIGGER = "audit_event_append_only"


class _Abort(Exception):
    pass


@pytest.fixture
def events(rita, alice, bob) -> list[AuditEvent]:
    """A chain of real events: a release planned through the services."""
    planned_release(rita, qa=alice, business_owner=bob)
    chain = list(AuditEvent.objects.order_by("id"))
    assert len(chain) >= 5
    return chain


def _tamper(sql: str, params: list) -> None:
    """Change the table behind the trigger's back, as someone with owner rights could."""
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE audit_auditevent DISABLE TRIGGER {TRIGGER}")
        cursor.execute(sql, params)
        cursor.execute(f"ALTER TABLE audit_auditevent ENABLE TRIGGER {TRIGGER}")


@pytest.mark.django_db
def test_orm_update_of_an_audit_event_is_refused_by_the_database(events) -> None:
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=events[0].pk).update(reason="nothing happened")
    assert AuditEvent.objects.get(pk=events[0].pk).reason == events[0].reason


@pytest.mark.django_db
def test_saving_a_changed_audit_event_is_refused_by_the_database(events) -> None:
    event = events[-1]
    event.reason = "rewritten"
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        event.save()


@pytest.mark.django_db
def test_orm_delete_of_audit_events_is_refused_by_the_database(events) -> None:
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.all().delete()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        events[1].delete()
    assert AuditEvent.objects.count() == len(events)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditevent SET reason = 'nothing happened' WHERE id = %s",
        "UPDATE audit_auditevent SET hash = prev_hash WHERE id = %s",
        "DELETE FROM audit_auditevent WHERE id = %s",
    ],
)
def test_raw_sql_changes_to_audit_events_are_refused(events, sql: str) -> None:
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql, [events[1].pk])
    assert AuditEvent.objects.get(pk=events[1].pk).hash == events[1].hash


@pytest.mark.django_db
def test_each_event_links_to_the_hash_of_the_one_before(events) -> None:
    assert AuditEvent.objects.order_by("id").first().prev_hash == GENESIS
    for previous, event in zip(events, events[1:], strict=False):
        assert event.prev_hash == previous.hash
    assert len({e.hash for e in events}) == len(events)


@pytest.mark.django_db
def test_audit_verify_reports_an_intact_chain_with_its_length(events, capsys) -> None:
    call_command("audit_verify")
    out = capsys.readouterr().out
    assert "intact" in out
    assert f"{len(events)} event(s)" in out


@pytest.mark.django_db
def test_audit_verify_names_an_event_whose_content_was_changed(events) -> None:
    victim = events[2]
    _tamper("UPDATE audit_auditevent SET reason = %s WHERE id = %s", ["backdated", victim.pk])

    with pytest.raises(CommandError, match=rf"#{victim.pk}\b.*content does not match"):
        call_command("audit_verify")


@pytest.mark.django_db
def test_audit_verify_catches_a_rewrite_that_recomputed_the_events_own_hash(events) -> None:
    # A forger who rewrites an event and its hash still breaks the next event's link.
    victim, following = events[2], events[3]
    forged = event_digest(
        prev_hash=victim.prev_hash,
        at=victim.at.astimezone(UTC),
        actor_id=victim.actor_id,
        actor_label=victim.actor_label,
        verb=victim.verb,
        object_type=victim.object_type,
        object_id=victim.object_id,
        release_id=victim.release_id,
        before=victim.before,
        after=victim.after,
        reason="backdated",
    )
    _tamper(
        "UPDATE audit_auditevent SET reason = %s, hash = %s WHERE id = %s",
        ["backdated", forged, victim.pk],
    )

    with pytest.raises(CommandError, match=rf"#{following.pk}\b.*link to the previous event"):
        call_command("audit_verify")


@pytest.mark.django_db
def test_audit_verify_detects_a_deleted_event_in_the_middle(events) -> None:
    removed, following = events[2], events[3]
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", [removed.pk])

    with pytest.raises(CommandError, match=rf"#{following.pk}\b.*link to the previous event"):
        call_command("audit_verify")


@pytest.mark.django_db(transaction=True)
def test_audit_record_outside_a_transaction_is_refused(rita) -> None:
    with pytest.raises(RuntimeError, match="inside the writing transaction"):
        audit_record(actor=rita, verb="release.moved", reason="no transaction")
    assert not AuditEvent.objects.filter(verb="release.moved").exists()


@pytest.mark.django_db
def test_a_phase_move_records_who_what_before_after_and_why(rita, alice, bob) -> None:
    release = planned_release(rita, qa=alice, business_owner=bob)
    entered = release.phase_entered_at

    rs.release_move(release_id=release.pk, to="cancelled", reason="Budget withdrawn.", actor=rita)

    event = AuditEvent.objects.get(release_id=release.pk, verb="release.moved")
    release.refresh_from_db()
    assert event.actor_id == rita.pk
    assert event.actor_label == "rita"
    assert (event.object_type, event.object_id) == ("releases.release", str(release.pk))
    assert event.before == {"phase": "planning", "phase_entered_at": entered.isoformat()}
    assert event.after == {
        "phase": "cancelled",
        "phase_entered_at": release.phase_entered_at.isoformat(),
    }
    assert event.reason == "Budget withdrawn."
    assert event == AuditEvent.objects.order_by("-id").first()


@pytest.mark.django_db
def test_a_phase_move_rolled_back_leaves_no_audit_event(rita, alice, bob) -> None:
    release = planned_release(rita, qa=alice, business_owner=bob)
    count = AuditEvent.objects.count()

    with pytest.raises(_Abort), transaction.atomic():
        rs.release_move(release_id=release.pk, to="preparation", actor=rita)
        raise _Abort  # a failure after the move, in the same transaction

    assert AuditEvent.objects.count() == count
    assert Release.objects.get(pk=release.pk).phase == "planning"
