"""`manage.py create_api_token`: a script gets a working API token without a browser."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.accounts.authentication import hash_key
from apps.accounts.models import ApiToken
from tests.builders import planned_release

pytestmark = pytest.mark.django_db


def create_token(*args: str) -> str:
    out = StringIO()
    call_command("create_api_token", *args, stdout=out)
    return out.getvalue().strip()


def status(client, release_id: int, key: str) -> int:
    return client.get(
        f"/api/v1/releases/{release_id}/status/", HTTP_AUTHORIZATION=f"Token {key}"
    ).status_code


def test_printed_token_authenticates_against_the_status_endpoint(client, rita, alice, bob) -> None:
    release = planned_release(rita, qa=alice, business_owner=bob)

    key = create_token("rita")

    token = ApiToken.objects.get(user=rita)
    assert token.key_hash == hash_key(key) and key not in token.key_hash
    assert status(client, release.pk, key) == 200


def test_running_it_again_refuses_instead_of_multiplying_tokens(rita) -> None:
    create_token("rita")

    with pytest.raises(CommandError, match="--rotate"):
        create_token("rita")
    assert ApiToken.objects.filter(user=rita).count() == 1


def test_read_only_flag_makes_a_read_only_token(rita) -> None:
    key = create_token("rita", "--read-only")

    assert ApiToken.objects.get(key_hash=hash_key(key)).read_only


def test_rotate_replaces_the_key_and_the_old_one_stops_working(client, rita, alice, bob) -> None:
    release = planned_release(rita, qa=alice, business_owner=bob)
    old = create_token("rita")

    new = create_token("rita", "--rotate")

    assert new != old
    assert status(client, release.pk, new) == 200
    assert status(client, release.pk, old) == 401
    assert ApiToken.objects.filter(user=rita).count() == 1


def test_unknown_user_is_refused(db) -> None:
    with pytest.raises(CommandError, match="nobody"):
        create_token("nobody")
    assert not ApiToken.objects.exists()


def test_inactive_user_is_refused(rita) -> None:
    rita.is_active = False
    rita.save(update_fields=["is_active"])

    with pytest.raises(CommandError, match="rita"):
        create_token("rita")
