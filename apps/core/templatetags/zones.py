"""`date_tz`: Django's `date` filter, with the zone named where its abbreviation is only an
offset. tzdata has no letters for many zones (Asia/Singapore is "+08"), so "T" there becomes
the zone's name."""

from datetime import datetime

from django import template
from django.template.defaultfilters import date

register = template.Library()


def zone_name(value: datetime) -> str:
    abbreviation = value.strftime("%Z")
    if any(ch.isalpha() for ch in abbreviation):
        return abbreviation
    return getattr(value.tzinfo, "key", "") or abbreviation


@register.filter(expects_localtime=True, is_safe=False)
def date_tz(value: datetime | None, fmt: str) -> str:
    if not isinstance(value, datetime) or value.tzinfo is None:
        return date(value, fmt)
    # "T" in a format is the zone's abbreviation; a backslash-escaped character is literal.
    escaped = "".join("\\" + ch for ch in zone_name(value))
    out, i = [], 0
    while i < len(fmt):
        if fmt[i] == "\\" and i + 1 < len(fmt):
            out.append(fmt[i : i + 2])
            i += 2
            continue
        out.append(escaped if fmt[i] == "T" else fmt[i])
        i += 1
    return date(value, "".join(out))
