from django.core.management.base import BaseCommand

from apps.demo.seed import TOKEN_USER, logins_table, seed_demo


class Command(BaseCommand):
    help = (
        "Create the demo organisation: users in every role, applications, environments, a freeze "
        "and releases in every phase. Safe to run again: nothing is duplicated."
    )

    def handle(self, *args: object, **options: object) -> None:
        result = seed_demo()
        created = ", ".join(result.created_releases) or "none"
        self.stdout.write(f"Releases created: {created}.")
        if result.existing_releases:
            self.stdout.write(
                f"Releases already there, left alone: {', '.join(result.existing_releases)}."
            )
        self.stdout.write("Demo logins:")
        self.stdout.write(logins_table())
        if result.token:
            self.stdout.write(f"API token for {TOKEN_USER} (shown only now): {result.token}")
        else:
            self.stdout.write(
                f"{TOKEN_USER} already has a demo API token; keys are shown only once. "
                f"`manage.py create_api_token {TOKEN_USER}` makes a new one."
            )
