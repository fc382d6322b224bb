"""Failed sign-ins are audit events like any other change a security reviewer asks about."""

from typing import Any

from django.contrib.auth.signals import user_login_failed
from django.db import transaction
from django.dispatch import receiver

from apps.audit.services import audit_record


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
