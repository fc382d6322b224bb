import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit.chain import verify_export
from apps.audit.services import audit_verify, latest_checkpoint, signing_keys


class Command(BaseCommand):
    help = (
        "Walk the audit hash chain, hold its head against the latest signed checkpoint, and "
        "name the first broken link. With --file, check a JSON export instead, from the file "
        "alone."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--file", help="A JSON export (/api/v1/audit-events/export/).")

    def handle(self, *args: object, **options: Any) -> None:
        if options["file"]:
            self._file(Path(options["file"]))
            return
        checked, broken, why = audit_verify()
        checkpoint = latest_checkpoint()
        if why:
            where = (
                f"at event #{broken.pk} ({broken.verb} at {broken.at:%Y-%m-%d %H:%M:%S})"
                if broken is not None
                else "before its first event"
            )
            raise CommandError(
                f"Audit chain broken {where}: {why}. {checked} event(s) before it are intact."
            )
        anchored = (
            f", up to the signed checkpoint of {checkpoint.at:%Y-%m-%d %H:%M:%S} "
            f"({checkpoint.count} event(s))"
            if checkpoint is not None
            else " (no checkpoint yet)"
        )
        self.stdout.write(
            self.style.SUCCESS(f"Audit chain intact: {checked} event(s) verified{anchored}.")
        )

    def _file(self, path: Path) -> None:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from exc
        ok, lines = verify_export(document, keys=signing_keys())
        for line in lines[:-1]:
            self.stdout.write(line)
        if not ok:
            raise CommandError(lines[-1])
        self.stdout.write(self.style.SUCCESS(lines[-1]))
