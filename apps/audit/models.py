from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    """An append-only, hash-chained record of one change of state.

    References are plain columns (no cascading foreign keys) so that deleting anything
    elsewhere never needs to touch this table, which refuses UPDATE and DELETE.
    """

    at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_label = models.CharField(max_length=150)
    verb = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64, blank=True)
    release_id = models.BigIntegerField(null=True, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["id"]
        # One for each filter of the audit log, each ending in id so that a page of the newest
        # matching events is read from the index in order.
        indexes = [
            models.Index(fields=["release_id", "id"], name="audit_event_release_idx"),
            models.Index(fields=["actor_label", "id"], name="audit_event_actor_idx"),
            # Actions are filtered by prefix (LIKE 'wave.%'), which needs pattern ops under any
            # collation but C.
            models.Index(
                fields=["verb"], name="audit_event_verb_idx", opclasses=["varchar_pattern_ops"]
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.verb}"


class AuditCheckpoint(models.Model):
    """The chain's head as it stood at `at` (`count` events, the last `last_id` with
    `head_hash`), signed with a key the database does not hold: removing events from the end
    or rewriting the chain with recomputed hashes no longer matches it. Append-only too."""

    at = models.DateTimeField()
    last_id = models.BigIntegerField()
    count = models.BigIntegerField()
    head_hash = models.CharField(max_length=64)
    signature = models.CharField(max_length=64)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"checkpoint #{self.pk}: {self.count} event(s) up to #{self.last_id}"
