"""HMAC-SHA256 signatures on outbound JSON: what a receiver checks."""

import hashlib
import hmac
import json
import time

import pytest

from apps.core import signing

BODY = signing.canonical_body({"version": "2.0.0", "action": "deploy", "wave": {"id": 7}})


def test_canonical_body_is_compact_sorted_json():
    assert BODY == b'{"action":"deploy","version":"2.0.0","wave":{"id":7}}'
    assert signing.canonical_body({"b": 1, "a": 2}) == signing.canonical_body({"a": 2, "b": 1})


def test_signature_is_hmac_sha256_over_timestamp_and_body():
    expected = hmac.new(b"s3cret", b"1764129600." + BODY, hashlib.sha256).hexdigest()
    assert signing.sign(BODY, "s3cret", 1764129600) == f"sha256={expected}"


def test_signed_headers_verify_with_the_same_secret():
    headers = signing.signed_headers(BODY, "s3cret")
    assert headers["Content-Type"] == "application/json"
    stamp, signature = headers[signing.TIMESTAMP_HEADER], headers[signing.SIGNATURE_HEADER]
    assert abs(int(stamp) - time.time()) < 60
    assert signing.verify(BODY, "s3cret", stamp, signature)


@pytest.mark.parametrize(
    ("body", "secret"),
    [
        (BODY.replace(b"2.0.0", b"9.9.9"), "s3cret"),  # tampered body
        (BODY, "s3cret "),  # another secret
        (BODY + b" ", "s3cret"),  # not the bytes that were signed
    ],
)
def test_verification_fails_for_a_changed_body_or_another_secret(body, secret):
    headers = signing.signed_headers(BODY, "s3cret")
    assert not signing.verify(
        body, secret, headers[signing.TIMESTAMP_HEADER], headers[signing.SIGNATURE_HEADER]
    )


def test_a_signature_cannot_be_moved_to_another_timestamp():
    now = int(time.time())
    signature = signing.sign(BODY, "s3cret", now)
    assert signing.verify(BODY, "s3cret", str(now), signature)
    assert not signing.verify(BODY, "s3cret", str(now - 1), signature)


@pytest.mark.parametrize("age", [301, 3600, -301])
def test_stale_or_future_timestamps_are_refused(age):
    stamp = int(time.time()) - age
    signature = signing.sign(BODY, "s3cret", stamp)
    assert not signing.verify(BODY, "s3cret", str(stamp), signature)


def test_a_timestamp_within_the_tolerance_is_accepted():
    stamp = int(time.time()) - 200
    assert signing.verify(BODY, "s3cret", str(stamp), signing.sign(BODY, "s3cret", stamp))


@pytest.mark.parametrize("stamp", ["", "soon", None, "1.5e9"])
def test_malformed_timestamps_are_refused(stamp):
    assert not signing.verify(BODY, "s3cret", stamp, signing.sign(BODY, "s3cret", 0))


@pytest.mark.parametrize("signature", ["", None, "sha256=", "md5=abc"])
def test_missing_or_malformed_signatures_are_refused(signature):
    assert not signing.verify(BODY, "s3cret", str(int(time.time())), signature)


def test_non_json_types_are_serialised_as_text():
    from datetime import UTC, datetime

    body = signing.canonical_body({"at": datetime(2026, 12, 1, 9, tzinfo=UTC)})
    assert json.loads(body) == {"at": "2026-12-01 09:00:00+00:00"}
