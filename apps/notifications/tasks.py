from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def send_notification(notification_id: int) -> None:
    from .outbox import notification_send

    notification_send(notification_id=notification_id)


@shared_task(ignore_result=True)
def tick() -> None:
    from .outbox import notifications_tick

    notifications_tick()
