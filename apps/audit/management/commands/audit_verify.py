from django.core.management.base import BaseCommand, CommandError

from apps.audit.services import audit_verify


class Command(BaseCommand):
    help = "Walk the audit hash chain and name the first broken link."

    def handle(self, *args: object, **options: object) -> None:
        checked, broken, why = audit_verify()
        if broken is not None:
            raise CommandError(
                f"Audit chain broken at event #{broken.pk} ({broken.verb} at {broken.at:%Y-%m-%d %H:%M:%S}): "
                f"{why}. {checked} event(s) before it are intact."
            )
        self.stdout.write(self.style.SUCCESS(f"Audit chain intact: {checked} event(s) verified."))
