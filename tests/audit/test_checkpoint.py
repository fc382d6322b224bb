"""The chain's anchor outside the database: signed checkpoints, TRUNCATE refused, and exports
that can be verified with nothing but the file."""

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from apps.audit import tasks
from apps.audit.chain import (
    checkpoint_key,
    checkpoint_signature,
    digest_of,
    event_digest,
    hashed_at,
)
from apps.audit.models import AuditCheckpoint, AuditEvent
from apps.audit.services import ChainTampered, audit_checkpoint, audit_verify
from apps.releases import services as rs
from tests.builders import planned_release

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
EXPORT = "/api/v1/audit-events/export/"
TRIGGER = "audit_event_append_only"


@pytest.fixture
def chain(rita, alice, bob) -> list[AuditEvent]:
    release = planned_release(rita, qa=alice, business_owner=bob)
    rs.release_update(release_id=release.pk, scope="Invoices only.", actor=rita)
    events = list(AuditEvent.objects.order_by("id"))
    assert len(events) >= 6
    return events


def _as_owner(*statements: tuple[str, list]) -> None:
    """What someone holding the database (not the signing key) can do behind the trigger."""
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE audit_auditevent DISABLE TRIGGER {TRIGGER}")
        for sql, params in statements:
            cursor.execute(sql, params)
        cursor.execute(f"ALTER TABLE audit_auditevent ENABLE TRIGGER {TRIGGER}")


def _rehash_from(event_id: int, **changes: str) -> None:
    """Rewrite one event and recompute every hash from it on, as a careful forger would."""
    rows = list(AuditEvent.objects.filter(id__gte=event_id).order_by("id").values())
    for row in rows:
        row["actor"] = row["actor_label"]
    prev_hash = rows[0]["prev_hash"]
    statements = []
    for row in rows:
        if row["id"] == event_id:
            row.update(changes)
        row["prev_hash"] = prev_hash
        row["hash"] = prev_hash = digest_of(row)
        statements.append(
            (
                "UPDATE audit_auditevent SET reason = %s, prev_hash = %s, hash = %s WHERE id = %s",
                [row["reason"], row["prev_hash"], row["hash"], row["id"]],
            )
        )
    # Unique hashes: move them out of the way first.
    _as_owner(
        ("UPDATE audit_auditevent SET hash = 'x' || id WHERE id >= %s", [event_id]),
        *statements,
    )


def _export(client, user, **params) -> dict:
    client.force_login(user)
    response = client.get(EXPORT, {"as": "json", **params})
    assert response.status_code == 200
    return json.loads(b"".join(response.streaming_content))


# ---- Append-only at the database ----


def test_truncate_is_refused_to_any_role_but_the_owner(chain) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("CREATE ROLE releasedeck_app_probe NOSUPERUSER")
        cursor.execute(
            "GRANT ALL ON audit_auditevent, audit_auditcheckpoint TO releasedeck_app_probe"
        )
        cursor.execute("SET ROLE releasedeck_app_probe")
        for table in ("audit_auditevent", "audit_auditcheckpoint"):
            with pytest.raises(DatabaseError, match="append-only: TRUNCATE refused"):
                with transaction.atomic():
                    cursor.execute(f"TRUNCATE {table}")
        # Not the owner: it cannot switch the guard off either.
        with pytest.raises(DatabaseError, match="must be owner"), transaction.atomic():
            cursor.execute(f"ALTER TABLE audit_auditevent DISABLE TRIGGER {TRIGGER}")
        cursor.execute("RESET ROLE")
        cursor.execute("DROP OWNED BY releasedeck_app_probe")
        cursor.execute("DROP ROLE releasedeck_app_probe")
    assert AuditEvent.objects.count() == len(chain)


def test_checkpoints_refuse_update_and_delete(chain) -> None:
    checkpoint = audit_checkpoint()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditCheckpoint.objects.filter(pk=checkpoint.pk).update(count=1)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditCheckpoint.objects.all().delete()


# ---- Checkpoints ----


def test_checkpoint_signs_the_head_and_extends_the_last_one(chain, rita) -> None:
    first = audit_checkpoint()
    assert (first.count, first.last_id, first.head_hash) == (
        len(chain),
        chain[-1].pk,
        chain[-1].hash,
    )
    assert audit_checkpoint() == first  # nothing appended since: no new row
    with transaction.atomic():
        rs.release_update(release_id=chain[-1].release_id, name="CRM again", actor=rita)
    second = audit_checkpoint()
    assert second.count == AuditEvent.objects.count() and second.pk > first.pk
    assert audit_verify().ok


def test_beat_writes_a_checkpoint(chain) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["audit-checkpoint"]
    assert entry["task"] == tasks.checkpoint.name
    tasks.checkpoint()
    assert AuditCheckpoint.objects.get().count == len(chain)


def test_removing_events_from_the_end_is_detected(chain) -> None:
    audit_checkpoint()
    _as_owner(("DELETE FROM audit_auditevent WHERE id >= %s", [chain[-2].pk]))

    check = audit_verify()
    assert check.broken == chain[-3]
    assert "events were removed from the end" in check.why
    with pytest.raises(CommandError, match=rf"#{chain[-3].pk}\b.*removed from the end"):
        call_command("audit_verify")
    with pytest.raises(ChainTampered):
        audit_checkpoint()  # never signs a chain that lost what was signed


def test_removing_the_end_then_appending_again_is_detected(chain, rita) -> None:
    audit_checkpoint()
    _as_owner(("DELETE FROM audit_auditevent WHERE id >= %s", [chain[-2].pk]))
    with transaction.atomic():
        rs.release_update(release_id=chain[-1].release_id, name="CRM again", actor=rita)

    check = audit_verify()
    assert f"ends at event #{chain[-1].pk}, which is missing" in check.why


def test_rewriting_an_event_and_recomputing_every_hash_is_detected(chain) -> None:
    audit_checkpoint()
    _rehash_from(chain[2].pk, reason="backdated")
    check = audit_verify()
    assert check.broken == AuditEvent.objects.get(pk=chain[-1].pk)
    assert "does not match the signed checkpoint" in check.why
    with pytest.raises(CommandError, match="rewritten or removed"):
        call_command("audit_verify")


def test_a_checkpoint_without_the_key_is_refused(chain) -> None:
    audit_checkpoint()
    _rehash_from(chain[2].pk, reason="backdated")
    head = AuditEvent.objects.order_by("-id").first()
    at = hashed_at(head.at)
    forged = checkpoint_signature(
        checkpoint_key("the forger's own key"),
        at=at,
        last_id=head.pk,
        count=len(chain),
        head_hash=head.hash,
    )
    AuditCheckpoint.objects.create(
        at=head.at, last_id=head.pk, count=len(chain), head_hash=head.hash, signature=forged
    )

    check = audit_verify()
    assert "does not carry a valid signature" in check.why


def test_audit_verify_says_what_it_anchored_to(chain, capsys) -> None:
    call_command("audit_verify")
    assert "(no checkpoint yet)" in capsys.readouterr().out
    audit_checkpoint()
    call_command("audit_verify")
    out = capsys.readouterr().out
    assert f"Audit chain intact: {len(chain)} event(s) verified, up to the signed checkpoint" in out


# ---- Exports verified from the file alone ----


def test_json_export_carries_every_hashed_field_exactly(client, vera, chain) -> None:
    document = _export(client, vera)
    events = document["events"]
    assert [e["id"] for e in events] == [e.pk for e in chain]
    for exported, stored in zip(events, chain, strict=True):
        assert exported["at"] == stored.at.astimezone(UTC).isoformat(timespec="microseconds")
        assert exported["actor_id"] == stored.actor_id
        assert digest_of(exported) == stored.hash
    assert document["complete"] is True
    checkpoint = AuditCheckpoint.objects.get()  # written for this export
    assert document["checkpoint"]["count"] == checkpoint.count == len(chain)
    assert document["checkpoint"]["head_hash"] == chain[-1].hash


def test_csv_export_carries_actor_ids_and_microseconds(client, vera, chain) -> None:
    client.force_login(vera)
    body = b"".join(client.get(EXPORT, {"as": "csv"}).streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [r["actor_id"] for r in rows] == [str(e.actor_id or "") for e in chain]
    assert [r["at"] for r in rows] == [hashed_at(e.at) for e in chain]


def test_a_clean_export_verifies_with_nothing_but_the_file(client, vera, chain, tmp_path, capsys):
    path = tmp_path / "export.json"
    path.write_text(json.dumps(_export(client, vera)))

    call_command("audit_verify", file=str(path))
    out = capsys.readouterr().out
    assert "carries a valid signature" in out
    assert f"Export intact: {len(chain)} event(s) verified, up to the checkpoint" in out

    # And without ReleaseDeck at all: the standard-library script in docs/.
    script = ROOT / "docs" / "audit_verify.py"
    result = subprocess.run(
        [sys.executable, "-I", str(script), str(path)],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], "SECRET_KEY": settings.SECRET_KEY},
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == (
        f"intact: {len(chain)} event(s) (complete, links and checkpoint checked)"
    )


def _edited(document: dict, edit) -> dict:
    edit(document["events"])
    return document


def _forge_tail(events: list) -> None:
    del events[-1]


def _forge_rehash(events: list) -> None:
    events[1]["reason"] = "backdated"
    prev_hash = events[1]["prev_hash"]
    for event in events[1:]:
        event["prev_hash"] = prev_hash
        event["hash"] = prev_hash = digest_of(event)


def _forge_content(events: list) -> None:
    events[2]["reason"] = "backdated"


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        (_forge_content, "content does not match its hash"),
        (_forge_tail, "removed from the end"),
        (_forge_rehash, "does not match the signed checkpoint"),
    ],
    ids=["content", "tail", "rehash"],
)
def test_an_edited_export_fails_verification(client, vera, chain, tmp_path, edit, why):
    path = tmp_path / "export.json"
    path.write_text(json.dumps(_edited(_export(client, vera), edit)))

    with pytest.raises(CommandError, match=why):
        call_command("audit_verify", file=str(path))
    result = subprocess.run(
        [sys.executable, "-I", str(ROOT / "docs" / "audit_verify.py"), str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "broken" in result.stdout


def test_a_filtered_export_checks_each_event_and_says_what_it_cannot(
    client, vera, chain, tmp_path, capsys
) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(_export(client, vera, verb_prefix="stakeholder")))
    call_command("audit_verify", file=str(path))
    out = capsys.readouterr().out
    assert "A filtered export" in out and "Export intact" in out


@pytest.mark.parametrize(
    "content", ["not json", "[]", '{"format": "releasedeck.audit-export/1", "events": [{}]}']
)
def test_a_file_that_is_no_export_is_a_clear_error(tmp_path, content) -> None:
    path = tmp_path / "export.json"
    path.write_text(content)
    with pytest.raises(CommandError):
        call_command("audit_verify", file=str(path))


def test_event_digest_accepts_the_exported_time_string(chain) -> None:
    event = chain[0]
    fields = {
        "prev_hash": event.prev_hash,
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "verb": event.verb,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "release_id": event.release_id,
        "before": event.before,
        "after": event.after,
        "reason": event.reason,
    }
    assert event_digest(at=hashed_at(event.at), **fields) == event.hash


def test_an_export_of_a_tampered_chain_says_why_it_carries_no_checkpoint(
    client, vera, chain, tmp_path
) -> None:
    audit_checkpoint()
    _as_owner(("DELETE FROM audit_auditevent WHERE id >= %s", [chain[-2].pk]))

    document = _export(client, vera)
    assert document["checkpoint"] is None
    assert "no longer matches checkpoint" in document["checkpoint_refused"]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(document))
    with pytest.raises(CommandError, match="The export was not signed: The chain no longer"):
        call_command("audit_verify", file=str(path))
