import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from apps.core.errors import ServiceError
from apps.environments.models import Environment
from apps.incidents.services import incident_route_add, incident_source_create

ROUTE_HELP = (
    "Labels that must match, then what to freeze: 'service=crm,env=prod->environment:prod-eu', "
    "'region=eu->region:eu', '->global' (any incident); 'service=crm->application:crm' or "
    "'service=crm->application:crm@environment:prod-eu' freeze one application's waves only. "
    "Repeat for more routes, tried in order."
)


def _route(text: str) -> tuple[dict[str, str], str, str, str]:
    """'k=v,k=v->[application:slug@]scope[:name]' as (match, scope, name, application)."""
    labels, sep, target = text.partition("->")
    if not sep:
        raise CommandError(f"A route needs '->': {text!r}. {ROUTE_HELP}")
    match = {}
    for pair in filter(None, (p.strip() for p in labels.split(","))):
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise CommandError(f"Labels are key=value: {pair!r}.")
        match[key.strip()] = value.strip()
    target, application = target.strip(), ""
    if target.startswith("application:"):
        application, _, target = target.removeprefix("application:").partition("@")
        target = target or "global"
    scope, _, name = target.partition(":")
    return match, scope, name, application


class Command(BaseCommand):
    help = (
        "Add a source of incident webhooks and its routes, and print the webhook's path and "
        "credential. Alertmanager and generic sources get a new bearer token, printed only "
        "once (only its SHA-256 is stored); a PagerDuty source takes the signing secret "
        "PagerDuty shows for the subscription, read from the variable --secret-env names."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument(
            "--kind", required=True, choices=["alertmanager", "pagerduty", "generic"]
        )
        parser.add_argument("--name", default="")
        parser.add_argument(
            "--as", dest="actor", required=True, help="The platform user recorded as making it."
        )
        parser.add_argument("--secret-env", default="", help="Variable holding PagerDuty's secret.")
        parser.add_argument("--lift-on-resolve", action="store_true")
        parser.add_argument("--freeze-hours", type=int, default=None)
        parser.add_argument("--route", action="append", default=[], help=ROUTE_HELP)

    def handle(self, *args: object, **options: object) -> None:
        User = get_user_model()
        actor = User.objects.filter(username=options["actor"], is_active=True).first()
        if actor is None:
            raise CommandError(f"No active user named {options['actor']!r}.")
        secret_env = str(options["secret_env"] or "")
        secret = os.environ.get(secret_env, "") if secret_env else ""
        routes = [_route(str(r)) for r in options["route"]]  # type: ignore[attr-defined]
        slug = str(options["slug"])
        try:
            with transaction.atomic():  # a bad route leaves no source behind
                source, credential = incident_source_create(
                    name=str(options["name"] or slug),
                    slug=slug,
                    kind=str(options["kind"]),
                    actor=actor,
                    secret=secret,
                    lift_on_resolve=bool(options["lift_on_resolve"]),
                    freeze_hours=options["freeze_hours"],  # type: ignore[arg-type]
                )
                for match, scope, name, application in routes:
                    env = (
                        Environment.objects.filter(name=name).first()
                        if scope == "environment"
                        else None
                    )
                    if scope == "environment" and env is None:
                        raise CommandError(f"No environment named {name!r}.")
                    incident_route_add(
                        source_id=source.pk,
                        match=match,
                        scope=scope,
                        actor=actor,
                        environment_id=env.pk if env else None,
                        region=name if scope == "region" else "",
                        application=application,
                    )
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"POST /api/v1/incidents/hooks/{source.slug}/")
        if source.kind != "pagerduty":
            self.stdout.write(f"Authorization: Bearer {credential}")
