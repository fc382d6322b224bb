"""`date_tz` names a zone whose abbreviation tzdata only gives as an offset."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django.template import Context, Template
from django.utils import timezone

from apps.core.templatetags.zones import date_tz, zone_name

AT = datetime(2026, 12, 2, 16, 10, tzinfo=UTC)


def test_zone_name_is_the_abbreviation_when_it_has_letters():
    assert zone_name(AT.astimezone(ZoneInfo("Europe/Berlin"))) == "CET"
    assert zone_name(AT.astimezone(ZoneInfo("America/New_York"))) == "EST"


def test_zone_name_is_the_zone_when_its_abbreviation_is_an_offset():
    assert zone_name(AT.astimezone(ZoneInfo("Asia/Singapore"))) == "Asia/Singapore"


def test_date_tz_formats_like_date_and_keeps_escaped_letters():
    local = AT.astimezone(ZoneInfo("Asia/Singapore"))
    assert date_tz(local, "D j M, H:i T") == "Thu 3 Dec, 00:10 Asia/Singapore"
    assert date_tz(local, r"H:i \T") == "00:10 T"
    assert date_tz(None, "H:i T") == ""


def test_date_tz_shows_the_current_zone_in_templates():
    template = Template('{% load zones %}{{ at|date_tz:"H:i T" }}')
    with timezone.override(ZoneInfo("Asia/Singapore")):
        assert template.render(Context({"at": AT})) == "00:10 Asia/Singapore"
    with timezone.override(ZoneInfo("Europe/Berlin")):
        assert template.render(Context({"at": AT})) == "17:10 CET"
