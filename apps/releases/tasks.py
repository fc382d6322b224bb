"""Thin Celery tasks: ids in, one service call."""

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def carry_out_move(move_id: int) -> None:
    from .services import phase_move_carry_out

    phase_move_carry_out(move_id=move_id)


@shared_task(ignore_result=True)
def tick() -> None:
    from .services import releases_tick

    releases_tick()
