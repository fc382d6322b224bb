from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def send_notifications(notification_ids: list[int]) -> None:
    from .outbox import notifications_send

    notifications_send(notification_ids=notification_ids)


@shared_task(ignore_result=True)
def tick() -> None:
    from .outbox import notifications_tick

    notifications_tick()
