"""Creating tokens through the API: a malformed name or flag is a 400 naming the field, and no
token is made."""

import json

import pytest

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create
from apps.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

TOKENS = "/api/v1/tokens/"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"name": ["ci"]}, "name"),
        ({"name": None}, "name"),
        ({"name": "ci", "read_only": "maybe"}, "read_only"),
        ({"name": "ci", "read_only": None}, "read_only"),
    ],
)
def test_malformed_token_request_is_refused_and_makes_no_token(client, rita, body, field):
    _, key = api_token_create(actor=rita, name="signing in")
    events = AuditEvent.objects.count()

    answer = client.post(
        TOKENS,
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {key}",
    )

    assert answer.status_code == 400
    assert answer.json()["field"] == field
    assert list(ApiToken.objects.values_list("name", flat=True)) == ["signing in"]
    assert AuditEvent.objects.count() == events


def test_token_name_is_trimmed(client, rita):
    _, key = api_token_create(actor=rita, name="signing in")

    answer = client.post(
        TOKENS,
        data=json.dumps({"name": "  CI pipeline  ", "read_only": True}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {key}",
    )

    assert answer.status_code == 201
    assert (answer.json()["name"], answer.json()["read_only"]) == ("CI pipeline", True)
