import pytest

from apps.releases.models import Release
from tests.builders import advance, planned_release


@pytest.mark.django_db
def test_release_walks_every_gate_to_support(rita, alice, bob):
    release = planned_release(rita, qa=alice, business_owner=bob)
    release = advance(release, rita, qa=alice, business_owner=bob, to="support")
    assert release.phase == "support"
    assert release.hypercare_until is not None
    assert Release.objects.get(pk=release.pk).revision > 10
