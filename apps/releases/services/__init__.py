from .catalog import application_assign_team, application_create, application_update
from .lifecycle import get_release, record_change, release_create, release_update
from .moves import phase_move_carry_out, release_move, release_request_move, releases_tick
from .uat import (
    checklist_item_add,
    checklist_item_set,
    defect_close,
    defect_open,
    review_write,
    test_case_add,
    test_case_record,
)

__all__ = [
    "application_assign_team",
    "application_create",
    "application_update",
    "checklist_item_add",
    "checklist_item_set",
    "defect_close",
    "defect_open",
    "get_release",
    "phase_move_carry_out",
    "record_change",
    "release_create",
    "release_move",
    "release_request_move",
    "release_update",
    "releases_tick",
    "review_write",
    "test_case_add",
    "test_case_record",
]
