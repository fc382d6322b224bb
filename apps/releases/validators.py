"""What a release's fields must hold beyond their type and length, as Django validators: the
API's serializers and the pages' forms run the same ones, and the services take clean values."""

from collections.abc import Callable
from datetime import datetime

from django.core.exceptions import ValidationError


def _time_in_range(field: str) -> Callable[[datetime], None]:
    def check(value: datetime) -> None:
        # Far-off years overflow when shown in a viewer's time zone.
        if not 1970 <= value.year <= 9998:
            raise ValidationError(f"{field} is out of range.", code="out_of_range")

    return check


planned_start = _time_in_range("planned_start")
planned_end = _time_in_range("planned_end")
