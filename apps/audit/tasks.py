"""Thin Celery tasks for the audit trail."""

from celery import shared_task


@shared_task(ignore_result=True)
def checkpoint() -> None:
    from .services import audit_checkpoint

    audit_checkpoint()
