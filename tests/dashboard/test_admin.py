import pytest
from django.contrib import admin
from django.urls import reverse

from apps.dashboard.models import CalendarFeed
from apps.dashboard.services import calendar_feed_reset

pytestmark = pytest.mark.django_db


def test_calendar_feeds_are_in_the_admin_without_their_secrets(client, root, vera):
    assert admin.site.is_registered(CalendarFeed)
    feed, token = calendar_feed_reset(actor=vera)
    client.force_login(root)
    listing = client.get(reverse("admin:dashboard_calendarfeed_changelist"))
    assert listing.status_code == 200
    page = client.get(reverse("admin:dashboard_calendarfeed_change", args=[feed.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert token not in html and feed.token_hash not in html and feed.nonce not in html
    assert client.get(reverse("admin:dashboard_calendarfeed_add")).status_code == 403
