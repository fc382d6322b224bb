"""Bad input to the release, UAT and sign-off endpoints: refused with 400 naming the field (404
for an id in the path), and nothing written. The serializers check each value's shape; the
services they hand typed values to check what only they can (tests/releases, tests/signoffs).

What JSON carries is what the serializers read: a number where text is expected becomes that
text, a numeric string a number, a time without an offset one in the server's time zone (a
date alone its midnight), and "yes" or 1 is true. Those values are taken, so the tables leave
them out."""

from typing import Any

import pytest

from apps.audit.models import AuditEvent
from apps.releases.models import ChecklistItem, PostReleaseReview, Release
from apps.signoffs import services as so
from apps.stakeholders import services as sh
from tests.db_state import db_state
from tests.factories import ApplicationFactory, EnvironmentFactory, ReleaseFactory

pytestmark = pytest.mark.django_db

V1 = "/api/v1"
START = "2030-01-01T09:00:00Z"
BEFORE_START = "2030-01-01T08:00:00Z"
# Ids in a path: these never reach a view (the route takes 1 to 18 digits) ...
UNROUTED_IDS: list[Any] = ["abc", -1, 0, 10**30, None, 1.5, True, "", " 1"]
# ... these reach the service, which finds no such row.
MISSING_IDS = [2**40, 987654321]
# Ids in a body.
BAD_IDS: list[Any] = ["abc", -1, 0, 10**30, None, 1.5, True, "", 2**40]


def send(client, method: str, url: str, body: Any) -> Any:
    return getattr(client, method)(url, data=body, content_type="application/json")


def assert_refused(client, method: str, url: str, body: Any, field: str | None, status=400):
    """Signed in with a session (a token would note its last use), so a refusal writes nothing."""
    before = db_state()
    response = send(client, method, url, body)
    assert response.status_code == status, response.content
    detail = response.json()["detail"]
    assert detail.endswith("."), detail
    if field is not None:
        assert response.json()["field"] == field, detail
    assert db_state() == before
    return response


def bad_text(kw: str, max_length: int, *, required: bool, field: str | None = None) -> list:
    values: list[Any] = [["x"], {"a": 1}, "a\x00b", "x" * (max_length + 1), "caf\ud800"]
    if required:
        values += [None, "", "   "]
    return [pytest.param({kw: v}, field or kw, id=f"{kw}={v!r:.12}") for v in values]


def bad_choice(kw: str) -> list:
    values: list[Any] = ["nope", "", None, 3, "DONE", "open\x00"]
    return [pytest.param({kw: v}, kw, id=f"{kw}={v!r:.12}") for v in values]


def bad_id(kw: str, *, nullable: bool = False) -> list:
    values = [v for v in BAD_IDS if not (nullable and v is None)]
    return [pytest.param({kw: v}, kw, id=f"{kw}={v!r:.12}") for v in values]


def bad_int(kw: str, low: int, high: int, *, nullable: bool) -> list:
    values: list[Any] = [low - 1, high + 1, 1.5, True, 10**30]
    if not nullable:
        values.append(None)
    return [pytest.param({kw: v}, kw, id=f"{kw}={v!r:.12}") for v in values]


def bad_window() -> list:
    values = [
        ({"planned_start": 1_900_000_000}, "planned_start"),
        ({"planned_start": "0001-01-02T00:00:00Z"}, "planned_start"),
        ({"planned_end": "9999-12-31T00:00:00Z"}, "planned_end"),
        ({"planned_start": START, "planned_end": BEFORE_START}, "planned_end"),
        ({"planned_start": START, "planned_end": START}, "planned_end"),
    ]
    return [pytest.param(c, f, id=f"{f}-{i}") for i, (c, f) in enumerate(values)]


@pytest.fixture
def as_rita(client, rita):
    client.force_login(rita)
    return client


@pytest.fixture
def rows_release(rita) -> Release:
    """A plain release owned by rita, straight from the factory: enough to refuse input against."""
    return ReleaseFactory(owner=rita)


# Releases

CREATE_BAD = [
    *bad_text("name", 200, required=True),
    *bad_text("version", 64, required=True),
    *bad_text("build_ref", 200, required=False),
    *bad_text("scope", 20000, required=False),
    *bad_id("application"),
    *bad_id("owner", nullable=True),  # null is the creator
    *bad_window(),
    *bad_int("signoff_expiry_days", 1, 3650, nullable=True),
    *bad_int("hypercare_days", 0, 365, nullable=False),
]


@pytest.mark.parametrize(("changes", "field"), CREATE_BAD)
def test_release_create_refuses_bad_input(as_rita, changes, field):
    app = ApplicationFactory(name="HR", slug="hr")
    valid = {
        "application": app.pk,
        "name": "HR 5",
        "version": "5.0.0",
        "build_ref": "git:5",
        "scope": "Payroll.",
        "planned_start": START,
        "planned_end": "2030-01-02T09:00:00Z",
        "signoff_expiry_days": 7,
        "hypercare_days": 7,
    }
    assert_refused(as_rita, "post", f"{V1}/releases/", {**valid, **changes}, field)


def test_release_create_trims_the_text_it_is_sent(as_rita):
    app = ApplicationFactory(name="HR", slug="hr")
    body = {"application": app.pk, "name": "  HR 5 ", "version": " 5.0.0 ", "scope": " Pay. "}
    response = send(as_rita, "post", f"{V1}/releases/", body)
    assert response.status_code == 201
    release = Release.objects.get(pk=response.json()["id"])
    assert (release.name, release.version, release.scope) == ("HR 5", "5.0.0", "Pay.")


UPDATE_BAD = [
    *bad_text("name", 200, required=True),
    *bad_text("version", 64, required=True),
    *bad_text("build_ref", 200, required=False),
    *bad_text("scope", 20000, required=False),
    *bad_id("owner"),
    *bad_window(),
    *bad_int("signoff_expiry_days", 1, 3650, nullable=True),
    *bad_int("hypercare_days", 0, 365, nullable=False),
    pytest.param({"phase": "completed"}, "phase", id="phase"),
    pytest.param({"fingerprint": "x"}, "fingerprint", id="fingerprint"),
    pytest.param({"planned_end": "2020-01-01T09:00:00Z"}, "planned_end", id="end<start"),
]


@pytest.mark.parametrize(("changes", "field"), UPDATE_BAD)
def test_release_update_refuses_bad_input(as_rita, rows_release, changes, field):
    assert_refused(as_rita, "patch", f"{V1}/releases/{rows_release.pk}/", changes, field)


@pytest.mark.parametrize("release_id", UNROUTED_IDS + MISSING_IDS)
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("patch", "", {"name": "Renamed"}),
        ("post", "transition/", {"to": "preparation"}),
    ],
    ids=["update", "transition"],
)
def test_release_writes_refuse_bad_release_ids(as_rita, release_id, method, path, body):
    field = "release" if release_id in MISSING_IDS else None
    url = f"{V1}/releases/{release_id}/{path}"
    assert_refused(as_rita, method, url, body, field, status=404)


MOVE_BAD = [
    *[
        pytest.param({"to": v}, "to", id=f"to={v!r}")
        for v in ["launched", "PLANNING", "", None, 5, "planning\x00"]
    ],
    *bad_text("reason", 2000, required=False),
    pytest.param({"override": None}, "override", id="override=None"),
]


@pytest.mark.parametrize(("changes", "field"), MOVE_BAD)
def test_transition_refuses_bad_input(as_rita, rows_release, changes, field):
    body = {"to": "preparation", "reason": "", "override": False, **changes}
    assert_refused(as_rita, "post", f"{V1}/releases/{rows_release.pk}/transition/", body, field)


@pytest.mark.parametrize("reason", ["", "   "])
def test_cancel_with_a_blank_reason_is_refused(as_rita, rows_release, reason):
    body = {"to": "cancelled", "reason": reason}
    assert_refused(as_rita, "post", f"{V1}/releases/{rows_release.pk}/transition/", body, "reason")


# Checklist, test cases, defects, the review


@pytest.fixture
def uat(rita, alice):
    """The rows the UAT endpoints act on, each made by the service a person would use."""
    from apps.releases import services as rs

    release = ReleaseFactory(owner=rita, phase="preparation")
    env = EnvironmentFactory(name="prod-eu")
    item = rs.checklist_item_add(
        release_id=release.pk, environment_id=env.pk, area="data", title="Backup", actor=rita
    )
    case = rs.test_case_add(release_id=release.pk, title="Create an invoice", actor=rita)
    # alice tests this release as its qa stakeholder, so she may close a critical defect.
    sh.stakeholder_add(release_id=release.pk, user_id=alice.pk, role="qa", actor=rita)
    defect = rs.defect_open(release_id=release.pk, title="Crash", severity="critical", actor=alice)
    support = ReleaseFactory(owner=rita, phase="support")
    return {
        "release": release,
        "env": env,
        "item": item,
        "case": case,
        "defect": defect,
        "support": support,
    }


ENDPOINTS: dict[str, tuple[str, str, str, Any, str, list]] = {
    # name: (method, url with {id}, the row {id} names, valid body, the service's id field, bad)
    "checklist_item_add": (
        "post",
        "/releases/{id}/checklist-items/",
        "release",
        lambda u: {"environment": u["env"].pk, "area": "data", "title": "Backup"},
        "release",
        [*bad_id("environment"), *bad_choice("area"), *bad_text("title", 300, required=True)],
    ),
    "checklist_item_set": (
        "patch",
        "/checklist-items/{id}/",
        "item",
        lambda u: {"status": "waived", "reason": "Covered."},
        "item",
        [*bad_choice("status"), *bad_text("reason", 2000, required=False)],
    ),
    "checklist_item_waive": (
        "post",
        "/checklist-items/{id}/waive/",
        "item",
        lambda u: {"reason": "Covered."},
        "item",
        bad_text("reason", 2000, required=True),
    ),
    "test_case_add": (
        "post",
        "/releases/{id}/test-cases/",
        "release",
        lambda u: {"title": "Search", "steps": "1. Search."},
        "release",
        [*bad_text("title", 300, required=True), *bad_text("steps", 20000, required=False)],
    ),
    "test_case_record": (
        "patch",
        "/test-cases/{id}/",
        "case",
        lambda u: {"status": "failed", "note": "Broken."},
        "test_case",
        [*bad_choice("status"), *bad_text("note", 5000, required=False)],
    ),
    "test_case_waive": (
        "post",
        "/test-cases/{id}/waive/",
        "case",
        lambda u: {"reason": "Out of scope."},
        "test_case",
        bad_text("reason", 2000, required=True),
    ),
    "defect_open": (
        "post",
        "/releases/{id}/defects/",
        "release",
        lambda u: {"title": "Crash", "severity": "major"},
        "release",
        [*bad_text("title", 300, required=True), *bad_choice("severity")],
    ),
    "defect_close": (
        "post",
        "/defects/{id}/close/",
        "defect",
        lambda u: {"resolution": "Fixed."},
        "defect",
        bad_text("resolution", 5000, required=False),
    ),
    "review_write": (
        "put",
        "/releases/{id}/review/",
        "support",
        lambda u: {"went_well": "a", "went_badly": "b", "actions": "c"},
        "release",
        [
            *bad_text("went_well", 20000, required=True),
            *bad_text("went_badly", 20000, required=True),
            *bad_text("actions", 20000, required=True),
        ],
    ),
}
BODY_CASES = [
    pytest.param(name, *p.values, id=f"{name}-{p.id}")
    for name, (*_, bad) in ENDPOINTS.items()
    for p in bad
]
ID_CASES = [
    pytest.param(name, v, id=f"{name}-{v!r:.12}")
    for name in ENDPOINTS
    for v in UNROUTED_IDS + MISSING_IDS
]


def _login_for(client, request, name: str) -> None:
    client.force_login(request.getfixturevalue("alice" if name.startswith("defect") else "rita"))


@pytest.mark.parametrize(("name", "changes", "field"), BODY_CASES)
def test_uat_writes_refuse_bad_input(client, request, uat, name, changes, field):
    method, url, row, valid, _, _ = ENDPOINTS[name]
    _login_for(client, request, name)
    body = {**valid(uat), **changes}
    assert_refused(client, method, V1 + url.format(id=uat[row].pk), body, field)


@pytest.mark.parametrize(("name", "obj_id"), ID_CASES)
def test_uat_writes_refuse_bad_ids(client, request, uat, name, obj_id):
    method, url, _, valid, id_field, _ = ENDPOINTS[name]
    _login_for(client, request, name)
    field = id_field if obj_id in MISSING_IDS else None
    assert_refused(client, method, V1 + url.format(id=obj_id), valid(uat), field, status=404)


def test_valid_input_of_the_uat_tables_is_accepted(client, request, uat):
    """The baseline each refused case changes one value of must itself be accepted."""
    for name, (method, url, row, valid, _, _) in ENDPOINTS.items():
        _login_for(client, request, name)
        response = send(client, method, V1 + url.format(id=uat[row].pk), valid(uat))
        assert response.status_code in (200, 201), (name, response.content)


def test_a_waiver_reason_is_stored_trimmed(as_rita, uat):
    item = uat["item"]
    url = f"{V1}/checklist-items/{item.pk}/waive/"
    response = send(as_rita, "post", url, {"reason": "  Nightly backup covers it. "})
    assert response.status_code == 200
    item = ChecklistItem.objects.get(pk=item.pk)
    assert (item.status, item.waive_reason) == ("waived", "Nightly backup covers it.")
    event = AuditEvent.objects.filter(release_id=item.release_id).latest("id")
    assert (event.verb, event.reason) == ("checklist.waived", "Nightly backup covers it.")


def test_the_same_review_with_trailing_spaces_writes_nothing(as_rita, uat):
    url = f"{V1}/releases/{uat['support'].pk}/review/"
    body = {"went_well": "a", "went_badly": "b", "actions": "c"}
    assert send(as_rita, "put", url, body).status_code == 200
    before = db_state()
    assert send(as_rita, "put", url, {**body, "went_well": "a "}).status_code == 200
    assert db_state() == before
    assert PostReleaseReview.objects.get(release=uat["support"]).went_well == "a"


# Sign-off policy and verdicts


@pytest.fixture
def factory_release(rita) -> Release:
    return ReleaseFactory(owner=rita, phase="testing")


POLICY_BAD = [
    *[
        pytest.param({"requirements": v}, "requirements", id=f"requirements={v!r:.15}")
        for v in ["qa", None, {"role": "qa"}, 5]
    ],
    *[
        pytest.param({"requirements": v}, "requirements.0", id=f"requirements={v!r:.15}")
        for v in [["qa"], [None]]
    ],
    *[
        pytest.param({"requirements": [{"role": v}]}, "requirements.0.role", id=f"role={v!r:.12}")
        for v in [["x"], "a\x00b", "caf\ud800", None, "", "x" * 33]
    ],
    # A number is a slug of digits; no role has it.
    pytest.param({"requirements": [{"role": 5}]}, "role", id="role=5"),
    *[
        pytest.param(
            {"requirements": [{"role": "qa", "count": v}]},
            "requirements.0.count",
            id=f"count={v!r:.12}",
        )
        for v in [0, -1, 51, 1.5, True, None, 10**30]
    ],
    pytest.param(
        {"requirements": [{"role": "qa"}, {"role": "qa", "count": 2}]},
        "requirements",
        id="role twice",
    ),
    *[
        pytest.param({"expiry_days": v}, "expiry_days", id=f"expiry_days={v!r:.12}")
        for v in [0, 3651, True, 10**30]
    ],
]


@pytest.mark.parametrize(("changes", "field"), POLICY_BAD)
def test_policy_set_refuses_bad_input(as_rita, factory_release, changes, field):
    body = {"requirements": [{"role": "qa"}], **changes}
    url = f"{V1}/releases/{factory_release.pk}/signoff-policy/"
    assert_refused(as_rita, "put", url, body, field)


@pytest.mark.parametrize("release_id", UNROUTED_IDS + MISSING_IDS)
def test_policy_set_refuses_bad_release_ids(as_rita, release_id):
    field = "release" if release_id in MISSING_IDS else None
    url = f"{V1}/releases/{release_id}/signoff-policy/"
    assert_refused(as_rita, "put", url, {"requirements": [{"role": "qa"}]}, field, status=404)


@pytest.fixture
def signable(rita, alice) -> Release:
    """A release in testing that alice may sign as qa, arranged with as few calls as possible."""
    release = ReleaseFactory(owner=rita, phase="testing")
    sh.stakeholder_add(release_id=release.pk, user_id=alice.pk, role="qa", actor=rita)
    so.policy_set(release_id=release.pk, requirements=[{"role": "qa"}], actor=rita)
    return release


SIGN_BAD = [
    *[
        pytest.param({"decision": v}, "decision", id=f"decision={v!r}")
        for v in ["approved", "APPROVE", "", None, 1, "approve\x00"]
    ],
    *[
        pytest.param({"comment": v}, "comment", id=f"comment={v!r:.12}")
        for v in [["x"], "a\x00b", "caf\ud800", "x" * 5001]
    ],
    pytest.param({"decision": "reject", "comment": None}, "comment", id="reject-comment=None"),
    *[
        pytest.param({"role": v}, "role", id=f"role={v!r:.12}")
        for v in [5, ["x"], "a\x00b", "caf\ud800", "", "x" * 33]
    ],
]


@pytest.mark.parametrize(("changes", "field"), SIGN_BAD)
def test_signoff_give_refuses_bad_input(client, alice, signable, changes, field):
    client.force_login(alice)
    body = {"decision": "approve", "comment": "", **changes}
    assert_refused(client, "post", f"{V1}/releases/{signable.pk}/signoffs/", body, field)


@pytest.mark.parametrize("release_id", UNROUTED_IDS + MISSING_IDS)
def test_signoff_give_refuses_bad_release_ids(client, alice, release_id):
    client.force_login(alice)
    field = "release" if release_id in MISSING_IDS else None
    url = f"{V1}/releases/{release_id}/signoffs/"
    assert_refused(client, "post", url, {"decision": "approve"}, field, status=404)


def test_the_sign_off_baseline_is_accepted(client, alice, signable):
    client.force_login(alice)
    url = f"{V1}/releases/{signable.pk}/signoffs/"
    assert send(client, "post", url, {"decision": "approve", "comment": ""}).status_code == 201
