"""Thin Celery tasks for deployment protection: ids in, one service call."""

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def evaluate(request_id: int) -> None:
    from .services import protection_request_evaluate

    protection_request_evaluate(request_id=request_id)


@shared_task(acks_late=True, ignore_result=True)
def reevaluate(release_id: int | None = None, plan_id: int | None = None) -> None:
    from .services import protection_requests_reevaluate

    protection_requests_reevaluate(release_id=release_id, plan_id=plan_id)


@shared_task(acks_late=True, ignore_result=True)
def answer_send(request_id: int) -> None:
    from .delivery import answer_send as send

    send(request_id=request_id)


@shared_task(ignore_result=True)
def tick() -> None:
    from .sweep import github_sweep

    github_sweep()
