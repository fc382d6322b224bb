from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_issue

TOKEN_NAME = "command line"


class Command(BaseCommand):
    help = (
        "Create an API token for a user and print its key, for scripts without a browser. "
        "Keys are stored hashed, so a key is printed only once."
    )

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("username")
        parser.add_argument(
            "--rotate", action="store_true", help="Revoke the user's tokens and print a new one."
        )
        parser.add_argument(
            "--read-only", action="store_true", help="The token may read but never change."
        )

    def handle(self, *args: object, **options: object) -> None:
        User = get_user_model()
        try:
            user = User.objects.get(username=options["username"], is_active=True)
        except User.DoesNotExist:
            raise CommandError(f"No active user named {options['username']!r}.") from None
        existing = ApiToken.objects.filter(user=user, name=TOKEN_NAME).first()
        if existing is not None and not options["rotate"]:
            raise CommandError(
                f"{user.get_username()} already has a command-line token ({existing.prefix}…). "
                "Its key cannot be shown again: pass --rotate to replace it."
            )
        key = api_token_issue(
            user=user,
            name=TOKEN_NAME,
            rotate=bool(options["rotate"]),
            read_only=bool(options["read_only"]),
        )
        self.stdout.write(key)
