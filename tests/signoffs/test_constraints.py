"""What PostgreSQL itself refuses about sign-offs, whatever code writes the row."""

import pytest
from django.db import DatabaseError, IntegrityError, transaction

from apps.releases.models import Release
from apps.signoffs.models import SignOff
from apps.stakeholders.models import StakeholderRole
from tests.factories import ReleaseFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def release(rita) -> Release:
    return ReleaseFactory(owner=rita, phase="testing")


def raw_signoff(release: Release, signer, **fields) -> SignOff:
    values = {
        "release": release,
        "signer": signer,
        "role": StakeholderRole.objects.get(slug="qa"),
        "decision": "approve",
        "fingerprint": release.fingerprint,
        **fields,
    }
    return SignOff.objects.create(**values)


def test_database_accepts_a_signoff_by_someone_else(release, alice):
    assert raw_signoff(release, alice).pk is not None


def test_database_refuses_a_signoff_by_the_owner(release, rita):
    with pytest.raises((IntegrityError, DatabaseError)) as exc, transaction.atomic():
        raw_signoff(release, rita)
    assert "owner or creator" in str(exc.value)
    assert not SignOff.objects.exists()


def test_database_refuses_a_signoff_by_the_creator(rita, alice):
    creator = UserFactory(username="dave")
    release = ReleaseFactory(owner=rita, created_by=creator)
    with pytest.raises((IntegrityError, DatabaseError)), transaction.atomic():
        raw_signoff(release, creator)
    assert not SignOff.objects.exists()


def test_database_refuses_turning_a_signoff_into_the_owners(release, rita, alice):
    signoff = raw_signoff(release, alice)
    with pytest.raises((IntegrityError, DatabaseError)), transaction.atomic():
        SignOff.objects.filter(pk=signoff.pk).update(signer=rita)
    assert SignOff.objects.get(pk=signoff.pk).signer == alice


def test_database_refuses_a_second_signoff_on_the_same_content(release, alice):
    raw_signoff(release, alice)
    with pytest.raises(IntegrityError), transaction.atomic():
        raw_signoff(release, alice, decision="reject", comment="Changed my mind.")
    assert SignOff.objects.count() == 1


def test_database_accepts_a_new_signoff_for_new_content(release, alice):
    raw_signoff(release, alice, fingerprint="earlier-content")
    raw_signoff(release, alice)
    assert SignOff.objects.filter(signer=alice).count() == 2


def test_database_refuses_an_unknown_decision(release, alice):
    with pytest.raises(IntegrityError), transaction.atomic():
        raw_signoff(release, alice, decision="maybe")
    assert not SignOff.objects.exists()
