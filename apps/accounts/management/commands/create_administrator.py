import getpass
import os
import sys

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.accounts.models import RoleGrant
from apps.accounts.people import grant_snapshot
from apps.accounts.roles import Role
from apps.audit.services import audit_record

PASSWORD_VARIABLE = "RELEASEDECK_ADMIN_PASSWORD"


class Command(BaseCommand):
    help = (
        "Create the first administrator (or make an existing person one): an organisation-wide "
        f"administrator role. The password comes from ${PASSWORD_VARIABLE}, else a prompt. "
        "Running it again changes nothing."
    )

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("username")
        parser.add_argument("--email", default="", help="Where their set-password mail goes.")

    def handle(self, *args: object, **options: object) -> None:
        username = str(options["username"]).strip()
        email = str(options["email"]).strip()
        model = get_user_model()
        with transaction.atomic():
            user = model.objects.select_for_update().filter(username=username).first()
            created = user is None
            if user is None:
                user = model(username=username, email=email)
                self._set_password(user)
                user.save()
                audit_record(
                    actor=None,
                    verb="user.created",
                    obj=user,
                    after={
                        "username": username,
                        "email": email,
                        "first_name": "",
                        "last_name": "",
                        "is_active": True,
                    },
                )
            elif not user.is_active:
                raise CommandError(f"{username} is deactivated; reactivate them first.")
            grant, granted = RoleGrant.objects.select_related("user").get_or_create(
                user=user, role=Role.ADMINISTRATOR, team=None
            )
            if granted:
                audit_record(
                    actor=None, verb="role.granted", obj=grant, after=grant_snapshot(grant)
                )
        if created:
            self.stdout.write(f"Created {username}, an administrator.")
        elif granted:
            self.stdout.write(f"{username} is now an administrator.")
        else:
            self.stdout.write(f"{username} is an administrator already; nothing changed.")

    def _set_password(self, user: User) -> None:
        password = os.environ.get(PASSWORD_VARIABLE, "")
        if not password:
            if not sys.stdin.isatty():
                raise CommandError(
                    f"Set ${PASSWORD_VARIABLE}, or run this in a terminal to be asked."
                )
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("The passwords differ.")
        try:
            password_validation.validate_password(password, user)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        user.set_password(password)
