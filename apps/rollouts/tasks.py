"""Thin Celery tasks for the rollout engine: ids in, one engine call. Only `queue` sends them."""

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def wave_step(wave_id: int) -> None:
    from .runner import wave_run

    wave_run(wave_id=wave_id)


@shared_task(acks_late=True, ignore_result=True)
def deploy_call_send(call_id: int) -> None:
    from .delivery import deploy_call_send as send

    send(call_id=call_id)


@shared_task(acks_late=True, ignore_result=True)
def check_run(check_id: int) -> None:
    from .delivery import check_run as run

    run(check_id=check_id)


@shared_task(ignore_result=True)
def tick() -> None:
    from .runner import rollouts_tick

    rollouts_tick()
