"""The audit trail through the API: read-only events, CSV/JSON exports, the evidence pack."""

import csv
import io
import json

import pytest

from apps.audit.models import AuditEvent
from apps.releases import services as rs
from apps.signoffs import services as so
from tests.builders import advance, planned_release

from .conftest import token_header

pytestmark = pytest.mark.django_db

V1 = "/api/v1"


@pytest.fixture
def testing(rita, alice, bob):
    release = planned_release(rita, qa=alice, business_owner=bob)
    return advance(release, rita, to="testing")


def test_events_are_filtered_by_release_and_verb(client, vera, testing) -> None:
    headers = token_header(vera)

    body = client.get(
        f"{V1}/audit-events/", {"release": testing.pk, "verb": "release.moved"}, **headers
    ).json()

    assert body["count"] == 2  # planning → preparation → testing
    assert {e["after"]["phase"] for e in body["results"]} == {"preparation", "testing"}
    assert all(e["actor"] == "rita" for e in body["results"])


def test_events_cannot_be_changed_through_the_api(client, rita, testing) -> None:
    event = AuditEvent.objects.filter(release_id=testing.pk).first()

    for method in ("post", "put", "patch", "delete"):
        response = getattr(client, method)(
            f"{V1}/audit-events/{event.pk}/",
            data={},
            content_type="application/json",
            **token_header(rita),
        )
        assert response.status_code == 405


def test_csv_export_of_one_release_has_every_event_with_hashes(client, vera, testing) -> None:
    response = client.get(
        f"{V1}/audit-events/export/", {"release": testing.pk, "as": "csv"}, **token_header(vera)
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    expected = AuditEvent.objects.filter(release_id=testing.pk).order_by("id")
    assert [int(r["id"]) for r in rows] == list(expected.values_list("id", flat=True))
    assert [r["hash"] for r in rows] == list(expected.values_list("hash", flat=True))
    for previous, current in zip(rows, rows[1:], strict=False):
        assert int(current["id"]) > int(previous["id"])


def test_csv_export_keeps_formulas_as_text(client, rita, alice, testing) -> None:
    rs.defect_open(release_id=testing.pk, title="=HYPERLINK(evil)", severity="minor", actor=alice)

    response = client.get(f"{V1}/audit-events/export/", {"as": "csv"}, **token_header(rita))

    text = b"".join(response.streaming_content).decode()
    assert "=HYPERLINK" in text
    for row in csv.reader(io.StringIO(text)):
        assert not any(cell.startswith("=") for cell in row)


def test_json_export_is_one_document_of_all_matching_events(client, vera, testing) -> None:
    response = client.get(
        f"{V1}/audit-events/export/", {"verb_prefix": "release."}, **token_header(vera)
    )

    assert response["Content-Type"] == "application/json"
    events = json.loads(b"".join(response.streaming_content))["events"]
    assert events and all(e["verb"].startswith("release.") for e in events)
    assert len(events) == AuditEvent.objects.filter(verb__startswith="release.").count()


def test_unknown_export_format_is_refused_as_json(client, vera) -> None:
    response = client.get(f"{V1}/audit-events/export/", {"as": "xlsx"}, **token_header(vera))

    assert response.status_code == 400
    assert response.json()["field"] == "as"


def test_evidence_pack_holds_signoffs_gates_checks_and_decisions(
    client, vera, rita, alice, bob, testing
) -> None:
    item = testing.checklist.get()
    rs.checklist_item_set(
        item_id=item.pk, status="waived", reason="Backup by the DBA team.", actor=rita
    )
    so.signoff_give(release_id=testing.pk, decision="approve", comment="Fine.", actor=alice)
    rs.release_update(release_id=testing.pk, scope="Invoices only.", actor=rita)
    so.signoff_give(release_id=testing.pk, decision="reject", comment="Totals wrong.", actor=bob)

    pack = client.get(f"{V1}/releases/{testing.pk}/evidence/", **token_header(vera)).json()

    assert (
        pack["release"]["fingerprint"] == testing.__class__.objects.get(pk=testing.pk).fingerprint
    )
    signoffs = {(s["signer"], s["decision"], s["current"]) for s in pack["signoffs"]}
    assert signoffs == {("alice", "approve", False), ("bob", "reject", True)}
    assert {b["code"] for b in pack["gates"]["blockers"]} >= {"signoff_rejected"}
    assert [m["to"] for m in pack["gates"]["moves"]] == []  # moved directly by the services
    assert pack["checklist"][0]["waive_reason"] == "Backup by the DBA team."
    reasons = {d["verb"]: d["reason"] for d in pack["decisions"]}
    assert reasons["checklist.waived"] == "Backup by the DBA team."
    assert reasons["signoff.rejected"] == "Totals wrong."
    assert [w["name"] for w in pack["waves"]] == ["prod-eu 100%"]
    assert pack["audit_trail"]["events"] == AuditEvent.objects.filter(release_id=testing.pk).count()
