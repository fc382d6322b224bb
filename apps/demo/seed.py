"""The demo organisation: people in every role, environments around the world and releases in
every phase, built through the same services the pages and the API call, so every release's
state and audit trail is one the product could have reached on its own.

Idempotent: rows are keyed on natural keys, and a release that already exists (application +
version) is left alone.
"""

from dataclasses import dataclass, field
from datetime import time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import ApiToken, Profile, RoleGrant, Team
from apps.accounts.services import api_token_create, api_token_revoke
from apps.environments.models import DeploymentWindow, Environment, FreezeScope, FreezeWindow
from apps.releases.models import Application, Release
from apps.stakeholders.models import ensure_default_roles

from .releases import RELEASES
from .steps import Demo

DEMO_PASSWORD = "demo"
TOKEN_USER = "rita"
TOKEN_NAME = "demo"


ORG = ""  # a grant's team: organisation-wide


@dataclass(frozen=True)
class DemoUser:
    username: str
    # (role, team slug or ORG); none for the administrator, who is a superuser
    grants: tuple[tuple[str, str], ...]
    label: str
    first_name: str
    last_name: str
    time_zone: str


DEMO_USERS = (
    DemoUser(
        "rita",
        (("release_manager", ORG), ("platform", ORG)),
        "release manager, platform",
        "Rita",
        "Ramos",
        "Europe/London",
    ),
    DemoUser(
        "tom",
        (("release_manager", "crm-team"), ("approver", "erp-hr-team")),
        "release manager of CRM, approver for ERP and HR",
        "Tom",
        "Tanaka",
        "Asia/Tokyo",
    ),
    DemoUser("alice", (("approver", ORG),), "approver (QA)", "Alice", "Albers", "Europe/Berlin"),
    DemoUser(
        "bob", (("approver", ORG),), "approver (business owner)", "Bob", "Baker", "America/New_York"
    ),
    DemoUser("oscar", (("operator", ORG),), "operator", "Oscar", "Ong", "Asia/Singapore"),
    DemoUser("vera", (("viewer", ORG),), "viewer", "Vera", "Vogel", "Australia/Sydney"),
    DemoUser("admin", (), "administrator (superuser)", "Ada", "Admin", "UTC"),
)

TEAMS = (("CRM team", "crm-team"), ("ERP and HR team", "erp-hr-team"))

APPLICATIONS = (
    ("CRM", "crm", "Customer relationship management: leads, accounts, invoices.", "crm-team"),
    ("ERP", "erp", "Finance, purchasing and payroll.", "erp-hr-team"),
    ("HR", "hr", "People records, leave and onboarding.", "erp-hr-team"),
)

WEEKDAYS = [0, 1, 2, 3, 4]
EVERY_DAY = [0, 1, 2, 3, 4, 5, 6]
# name, tier, region, time zone, deployment window (days, local start, local end)
ENVIRONMENTS = (
    ("dev", "development", "eu", "Europe/Berlin", (EVERY_DAY, time(0, 0), time(23, 59))),
    ("staging", "staging", "eu", "Europe/Berlin", (EVERY_DAY, time(0, 0), time(23, 59))),
    ("prod-us", "production", "us", "America/New_York", (WEEKDAYS, time(6, 0), time(22, 0))),
    ("prod-eu", "production", "eu", "Europe/Berlin", (EVERY_DAY, time(6, 0), time(22, 0))),
    ("prod-apac", "production", "apac", "Asia/Singapore", (EVERY_DAY, time(6, 0), time(22, 0))),
)

FREEZE_REASON = "US quarter-end close: no production changes in the US region."


@dataclass
class SeedResult:
    created_users: list[str] = field(default_factory=list)
    created_releases: list[str] = field(default_factory=list)
    existing_releases: list[str] = field(default_factory=list)
    token: str = ""  # the demo API key when this run created it; keys are shown only once


def seed_demo(*, base_url: str = "") -> SeedResult:
    """Create whatever of the demo organisation is missing; return what was done. `base_url`
    is where the demo's web server will answer (default: RELEASEDECK_PUBLIC_URL); the in-flight
    rollout's checks ask it."""
    result = SeedResult()
    ensure_default_roles()
    teams = _teams()
    people = _users(result, teams)
    apps = _applications(teams)
    envs = _environments()
    _freeze(envs, people["rita"])
    demo = Demo(people=people, apps=apps, envs=envs, base_url=base_url)
    for app_slug, version, build in RELEASES:
        label = f"{apps[app_slug].name} {version}"
        if Release.objects.filter(application=apps[app_slug], version=version).exists():
            result.existing_releases.append(label)
            continue
        # One transaction per release: a failure leaves no half-built release to be skipped later.
        with transaction.atomic():
            build(demo)
        result.created_releases.append(label)
    if not ApiToken.objects.filter(user=people[TOKEN_USER], name=TOKEN_NAME).exists():
        result.token = demo_token_renew()
    return result


def demo_token_renew() -> str:
    """A new demo API key for the token user, revoking the previous one: keys are stored
    hashed, so an earlier key cannot be shown again."""
    user = get_user_model().objects.get(username=TOKEN_USER)
    with transaction.atomic():
        for token_id in ApiToken.objects.filter(user=user, name=TOKEN_NAME).values_list(
            "pk", flat=True
        ):
            api_token_revoke(token_id=token_id, actor=user)
        _, key = api_token_create(actor=user, name=TOKEN_NAME)
    return key


def _teams() -> dict[str, Team]:
    return {
        slug: Team.objects.get_or_create(slug=slug, defaults={"name": name})[0]
        for name, slug in TEAMS
    }


def _users(result: SeedResult, teams: dict[str, Team]) -> dict[str, Any]:
    User = get_user_model()
    people = {}
    for spec in DEMO_USERS:
        admin = not spec.grants
        user, created = User.objects.get_or_create(
            username=spec.username,
            defaults={
                "email": f"{spec.username}@example.com",
                "first_name": spec.first_name,
                "last_name": spec.last_name,
                "is_staff": admin,
                "is_superuser": admin,
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
            result.created_users.append(spec.username)
        for role, team in spec.grants:
            RoleGrant.objects.get_or_create(user=user, role=role, team=teams.get(team))
        Profile.objects.get_or_create(user=user, defaults={"time_zone": spec.time_zone})
        people[spec.username] = user
    return people


def _applications(teams: dict[str, Team]) -> dict[str, Application]:
    return {
        slug: Application.objects.get_or_create(
            slug=slug, defaults={"name": name, "description": description, "team": teams[team]}
        )[0]
        for name, slug, description, team in APPLICATIONS
    }


def _environments() -> dict[str, Environment]:
    envs = {}
    for name, tier, region, tz, (days, start, end) in ENVIRONMENTS:
        env, _ = Environment.objects.get_or_create(
            name=name, defaults={"tier": tier, "region": region, "time_zone": tz}
        )
        DeploymentWindow.objects.get_or_create(
            environment=env, start_time=start, end_time=end, defaults={"weekdays": days}
        )
        envs[name] = env
    return envs


def _freeze(envs: dict[str, Environment], creator: Any) -> None:
    """A region freeze a few days ahead, from midnight to midnight in New York."""
    ny = ZoneInfo(envs["prod-us"].time_zone)
    start = (timezone.now().astimezone(ny) + timedelta(days=4)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    FreezeWindow.objects.get_or_create(
        reason=FREEZE_REASON,
        defaults={
            "scope": FreezeScope.REGION,
            "region": "us",
            "start": start,
            "end": start + timedelta(days=3),
            "created_by": creator,
        },
    )


def logins_table() -> str:
    rows = [("username", "password", "role")] + [
        (u.username, DEMO_PASSWORD, u.label) for u in DEMO_USERS
    ]
    width = [max(len(r[i]) for r in rows) for i in range(2)]
    return "\n".join(f"  {r[0]:<{width[0]}}  {r[1]:<{width[1]}}  {r[2]}" for r in rows)
