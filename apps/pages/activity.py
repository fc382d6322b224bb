"""Audit events in words for people: what was done, and to what, named as the pages name it
("wave “EU canary”", not "rollouts.wave #13"). Used by the release page's activity and the
audit log alike."""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db.models import CharField, TextField, Value
from django.db.models.functions import Cast

from apps.audit.verbs import VERB_TEXT

ROLE = "stakeholders.stakeholderrole"

# Nouns Django's verbose names do not spell as the pages do.
NOUNS = {
    "signoffs.signoff": "sign-off",
    "signoffs.signoffrequirement": "sign-off requirement",
    "environments.freezewindow": "freeze",
    "stakeholders.stakeholderrole": "stakeholder role",
    "releases.postreleasereview": "post-release review",
    "accounts.apitoken": "API token",
}
# The field that names an object of each type; others are named by their number.
NAME_FIELDS = {
    "rollouts.wave": "name",
    "rollouts.check": "name",
    "releases.checklistitem": "title",
    "releases.testcase": "title",
    "releases.defect": "title",
    "releases.application": "name",
    "environments.environment": "name",
    "environments.freezewindow": "reason",
    "accounts.apitoken": "name",
    "notifications.outboundwebhook": "name",
}


def noun(object_type: str) -> str:
    if object_type in NOUNS:
        return NOUNS[object_type]
    try:
        return str(apps.get_model(object_type)._meta.verbose_name)
    except (LookupError, ValueError):
        return object_type.rpartition(".")[2].replace("_", " ") or "object"


@dataclass(frozen=True)
class Words:
    names: dict[tuple[str, str], str]  # (object type, object id) → "wave “EU canary”"
    roles: dict[str, str]  # stakeholder role → its display name


def words_for(events: Iterable[Any]) -> Words:
    """The names `events` speak of, and the roles' display names, in one query. An object
    deleted since keeps its number."""
    from apps.stakeholders.models import StakeholderRole

    wanted: dict[str, set[int]] = defaultdict(set)
    for event in events:
        if event.object_type in NAME_FIELDS and str(event.object_id).isdigit():
            wanted[event.object_type].add(int(event.object_id))
    # One query for every named type together, so a page costs the same whatever it lists.
    # No ordering in the parts: SQLite (the demo) refuses ORDER BY inside a UNION.
    parts = [
        apps.get_model(object_type)
        .objects.filter(pk__in=ids)
        .order_by()
        .values_list(
            Value(object_type, output_field=CharField()),
            Cast("pk", output_field=CharField()),
            Cast(NAME_FIELDS[object_type], output_field=TextField()),
        )
        for object_type, ids in wanted.items()
    ]
    role_rows = StakeholderRole.objects.order_by().values_list(
        Value(ROLE, output_field=CharField()),
        Cast("slug", output_field=CharField()),
        Cast("name", output_field=TextField()),
    )
    names: dict[tuple[str, str], str] = {}
    roles: dict[str, str] = {}
    for object_type, key, name in role_rows.union(*parts, all=True):
        if object_type == ROLE:
            roles[key] = name
        else:
            names[(object_type, key)] = f"{noun(object_type)} “{name}”"
    return Words(names=names, roles=roles)


def subject_of(event: Any, words: Words) -> str:
    if not event.object_type:
        return ""
    if event.object_type == "releases.release":
        return "the release"
    key = (event.object_type, str(event.object_id))
    if key in words.names:
        return words.names[key]
    return f"{noun(event.object_type)} #{event.object_id}" if event.object_id else ""


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return "?"


def sentence(event: Any, words: Words) -> str:
    """What happened, after the actor's name: "approved as QA", "wave “EU” is now deploying"."""
    after = event.after if isinstance(event.after, dict) else {}
    values = _Blank({k: str(v).replace("_", " ") for k, v in after.items()})
    if isinstance(after.get("role"), str):
        values["role"] = words.roles.get(after["role"], values["role"])
    subject = subject_of(event, words)
    values["subject"] = subject or "it"
    template = VERB_TEXT.get(event.verb)
    if template:
        return template.format_map(values)
    return event.verb.replace("_", " ").replace(".", " ") + (f": {subject}" if subject else "")
