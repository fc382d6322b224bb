"""Failed sign-ins are audit events like any other change a security reviewer asks about; a
changed time zone shows on the person's next page; each sign-in's session is remembered so
deactivating the person can end it."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from apps.audit.services import audit_record

from .middleware import time_zone_cache_key, time_zone_of
from .models import Profile, UserSession


def _client_address(request: Any) -> str:
    if request is None:
        return ""
    return str(request.META.get("REMOTE_ADDR", ""))[:64]


@receiver(user_login_failed, dispatch_uid="accounts.audit_failed_login")
def audit_failed_login(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
) -> None:
    # Django already removed the password from `credentials`; keep only the name tried.
    username = str(credentials.get("username", ""))[:150].replace("\x00", "")
    with transaction.atomic():
        audit_record(
            actor=None,
            verb="login.failed",
            object_type="auth.user",
            object_id=username,
            after={"username": username, "address": _client_address(request)},
        )


@receiver(user_logged_in, dispatch_uid="accounts.time_zone_on_login")
def remember_time_zone(sender: Any, user: Any, **kwargs: Any) -> None:
    # Looked up while signing in, so pages after it need not.
    time_zone_of(user.pk)


@receiver(post_save, sender=Profile, dispatch_uid="accounts.time_zone_saved")
@receiver(post_delete, sender=Profile, dispatch_uid="accounts.time_zone_deleted")
def forget_time_zone(sender: Any, instance: Profile, **kwargs: Any) -> None:
    key = time_zone_cache_key(instance.user_id)
    cache.delete(key)
    # Again after commit: a page read in between may have cached the old value.
    transaction.on_commit(lambda: cache.delete(key))


@receiver(user_logged_in, dispatch_uid="accounts.session_on_login")
def remember_session(sender: Any, user: Any, request: Any = None, **kwargs: Any) -> None:
    session = getattr(request, "session", None)
    key = session.session_key if session is not None else None
    if key:
        UserSession.objects.update_or_create(session_key=key, defaults={"user": user})
        # Sessions past the longest a cookie lives have expired anyway.
        oldest = timezone.now() - timedelta(seconds=settings.SESSION_COOKIE_AGE)
        UserSession.objects.filter(user=user, created_at__lt=oldest).delete()


@receiver(user_logged_out, dispatch_uid="accounts.session_on_logout")
def forget_session(sender: Any, request: Any = None, **kwargs: Any) -> None:
    session = getattr(request, "session", None)
    key = session.session_key if session is not None else None
    if key:
        UserSession.objects.filter(session_key=key).delete()
