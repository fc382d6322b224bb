"""JSON error bodies for every API error, including the ones services raise."""

from typing import Any

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import Conflict, ServiceError


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ServiceError):
        body: dict[str, Any] = {"detail": exc.message}
        if exc.field:
            body["field"] = exc.field
        if isinstance(exc, Conflict):
            body["blockers"] = [b.as_dict() for b in exc.blockers]
        return Response(body, status=exc.status)
    response = drf_exception_handler(exc, context)
    if response is not None and not isinstance(response.data, dict):
        response.data = {"detail": "Invalid request.", "errors": response.data}
    elif response is not None and "detail" not in response.data:
        response.data = {"detail": "Invalid request.", "errors": response.data}
    if response is None:
        return None
    if response.status_code == status.HTTP_401_UNAUTHORIZED and "detail" in response.data:
        response.data["detail"] = str(response.data["detail"])
    return response
