"""What every API view shares: JSON errors, pagination, hostile-input guards, ETags, schema hooks."""

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse, HttpResponseNotModified
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField, RangeField
from django_filters.widgets import DateRangeWidget
from drf_spectacular.utils import OpenApiResponse, extend_schema_field
from kombu.exceptions import OperationalError as BrokerUnavailable
from rest_framework import exceptions, serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .cache import UNAVAILABLE
from .errors import Conflict, ServiceError


class BlockerSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    """The body of every error answer."""

    detail = serializers.CharField(help_text="What went wrong, for people.")
    field = serializers.CharField(
        required=False, help_text="The request field the error is about, when there is one."
    )
    blockers = BlockerSerializer(
        many=True, required=False, help_text="Why a move is refused now (409 only)."
    )
    # A declared field: DRF's metaclass takes it off the class, so `Serializer.errors` stays.
    errors = serializers.JSONField(  # type: ignore[assignment]
        required=False, help_text="Every validation message, keyed by field."
    )


ERROR_DESCRIPTIONS = {
    400: "The request is malformed or a value is invalid; `field` names the culprit.",
    401: "No valid credentials: send `Authorization: Token <key>` or sign in.",
    403: "Signed in, but this role (or a read-only token) may not do this.",
    404: "No such object, or a malformed id.",
    406: "The Accept header asks for something other than JSON.",
    409: "The object's state refuses this now; `blockers` says why.",
    413: "The body is larger than the server accepts (`DATA_UPLOAD_MAX_MEMORY_SIZE`).",
    415: "The body is not JSON.",
    429: "Too many requests; retry after the number of seconds in Retry-After.",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    return {
        code: OpenApiResponse(response=ErrorSerializer, description=ERROR_DESCRIPTIONS[code])
        for code in codes
    }


def _first_message(errors: Any) -> tuple[str | None, str]:
    """The first (field, message) of DRF's nested validation errors."""
    if isinstance(errors, dict):
        for key, value in errors.items():
            field, message = _first_message(value)
            name = str(key) if key != "non_field_errors" else None
            if field is not None and name is not None:
                name = f"{name}.{field}"
            return (name or field), message
        return None, "Invalid request."
    if isinstance(errors, list) and errors:
        return _first_message(errors[0])
    return None, str(errors)


def _printable_json(data: Any) -> Any:
    """Error messages may quote the input; lone surrogates in it cannot be encoded as UTF-8."""
    if isinstance(data, str):
        if data.isascii():
            return data
        return data.encode("utf-8", "replace").decode("utf-8")
    if isinstance(data, dict):
        return {_printable_json(k): _printable_json(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_printable_json(v) for v in data]
    return data


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = _error_response(exc, context)
    if response is not None:
        response.data = _printable_json(response.data)
    return response


def _error_response(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, (*UNAVAILABLE, BrokerUnavailable)):
        # Redis (broker or cache) is down and this request could not do without it.
        return Response(
            {"detail": "A service this request needs is unavailable; try again shortly."},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response(
            {"detail": f"The request body is larger than {limit} bytes."},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, ServiceError):
        body: dict[str, Any] = {"detail": exc.message}
        if exc.field:
            body["field"] = exc.field
        if isinstance(exc, Conflict):
            body["blockers"] = [b.as_dict() for b in exc.blockers]
        return Response(body, status=exc.status)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a bug: Django's JSON 500 handler answers under /api/
    data = response.data
    if isinstance(exc, exceptions.ValidationError) or not isinstance(data, dict):
        field, message = _first_message(data)
        body = {"detail": f"{field}: {message}" if field else message, "errors": data}
        if field:
            body["field"] = field
        response.data = body
    elif "detail" not in data:
        response.data = {"detail": "Invalid request.", "errors": data}
    else:
        response.data = {**data, "detail": str(data["detail"])}
    return response


def _hostile(value: str) -> bool:
    # PostgreSQL text cannot hold NUL; lone surrogates cannot be encoded at all.
    if "\x00" in value:
        return True
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
    return False


class ApiMixin:
    """Mixed into every API view.

    `write_actions` maps an unsafe method to the permission action it needs; reads need `view`
    unless the view sets `read_action`.
    """

    write_actions: dict[str, Any] = {}

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        _refuse_large_body(request)
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        for name, values in request.query_params.lists():
            if _hostile(name) or any(_hostile(v) for v in values):
                raise exceptions.ValidationError(
                    {_printable(name): ["Must not contain NUL or invalid characters."]}
                )


def _refuse_large_body(request: Request) -> None:
    """Refuse a body past the limit even where the view would never read it."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is not None and length > limit:
        raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")


def _printable(name: str) -> str:
    return name.replace("\x00", "").encode("utf-8", "replace").decode("utf-8") or "query"


class ApiView(ApiMixin, GenericAPIView):
    pass


def validated(
    serializer_class: type[serializers.Serializer], request: Request, **kwargs: Any
) -> dict:
    """Shape-check a request body; the service then decides. A field the serializer does not
    take (at any depth) is a 400 naming it, never silently dropped."""
    serializer = serializer_class(data=request.data, **kwargs)
    unknown = _unknown_fields(serializer, request.data)
    if unknown:
        raise exceptions.ValidationError(unknown)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _unknown_fields(field: Any, data: Any) -> dict[Any, Any]:
    """Errors for every key of `data` that `field` (a serializer, a list of them, or a list
    field of them) does not take, keyed by field name and list position."""
    if isinstance(field, serializers.ListSerializer | serializers.ListField):
        child = field.child
        if not isinstance(data, list) or not isinstance(child, serializers.BaseSerializer):
            return {}
        nested = {i: _unknown_fields(child, item) for i, item in enumerate(data)}
        return {i: errors for i, errors in nested.items() if errors}
    if not isinstance(field, serializers.Serializer) or not isinstance(data, dict):
        return {}
    takes = [name for name, f in field.fields.items() if not f.read_only]
    errors: dict[Any, Any] = {
        str(name): [f"Unknown field; this request takes: {', '.join(takes)}."]
        for name in data
        if name not in takes
    }
    for name in takes:
        if name in data:
            nested = _unknown_fields(field.fields[name], data[name])
            if nested:
                errors[name] = nested
    return errors


ID_MAX = 2**63 - 1


class UtcDateTimeField(IsoDateTimeField):
    """An ISO 8601 moment, normalised to UTC: PostgreSQL refuses offsets beyond ±15:59, and
    a moment near year 1 or 9999 may not exist in UTC at all."""

    def to_python(self, value: Any) -> datetime | None:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except (OverflowError, ValueError):
            raise forms.ValidationError("Date and time out of range.") from None


class UtcDateTimeRangeField(RangeField):
    widget = DateRangeWidget

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__((UtcDateTimeField(), UtcDateTimeField()), *args, **kwargs)


class DateTimeRangeFilter(filters.IsoDateTimeFromToRangeFilter):
    """`<name>_after` and `<name>_before`, both ISO 8601."""

    # The stubs pin field_class to django-filter's own ISO range field, not any range field.
    field_class = UtcDateTimeRangeField  # type: ignore[assignment]


class DateTimeFilter(filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": ID_MAX})
class IdFilter(filters.Filter):
    """Filter on a database id: a whole number within bigint range, else 400."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", ID_MAX)
        super().__init__(*args, **kwargs)


def body_etag(data: Any) -> str:
    payload = json.dumps(data, cls=DjangoJSONEncoder, sort_keys=True).encode()
    return '"' + hashlib.sha256(payload).hexdigest()[:32] + '"'


def _etags(header: str) -> Iterable[str]:
    for tag in header.split(","):
        tag = tag.strip()
        yield tag[2:] if tag.startswith("W/") else tag


def rendered_json(data: Any) -> bytes:
    """`data` as the API's JSON renderer writes it, for a body rendered once and served often."""
    return JSONRenderer().render(data)


def etag_json_response(
    request: Request, body: bytes, etag: str
) -> HttpResponse | HttpResponseNotModified:
    """Answer 304 when the client already holds this exact body, else the body with its ETag.

    The body is rendered once by `rendered_json` and served often (from a cache)."""
    response = _not_modified(request, etag) or HttpResponse(body, content_type="application/json")
    return _with_etag(response, etag)


def _not_modified(request: Request, etag: str) -> HttpResponseNotModified | None:
    header = request.headers.get("If-None-Match", "")
    if header and (header.strip() == "*" or etag in _etags(header)):
        return HttpResponseNotModified()
    return None


def _with_etag(response: HttpResponse, etag: str) -> HttpResponse:
    response["ETag"] = etag
    response["Cache-Control"] = "private, no-cache"
    return response


# Status codes DRF itself may answer for any operation, beyond what each view declares.
def postprocess_schema(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """Add the error answers the framework gives to every operation, so the schema is complete."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    if "Error" not in components:
        return result
    ref = {"$ref": "#/components/schemas/Error"}
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            codes = {401, 403, 406, 429}
            params = operation.get("parameters", [])
            if any(p.get("in") == "path" for p in params) or "{" in path:
                codes.add(404)
            if "requestBody" in operation:
                codes |= {400, 413, 415}
            if any(p.get("in") == "query" for p in params):
                codes.add(400)
            if any(p.get("name") == "page" for p in params):
                codes.add(404)  # a page past the end
            if operation.get("security") == [{}] or operation.get("security") == []:
                continue
            for code in sorted(codes):
                responses.setdefault(
                    str(code),
                    {
                        "description": ERROR_DESCRIPTIONS[code],
                        "content": {"application/json": {"schema": ref}},
                    },
                )
    return result


def no_content() -> Response:
    return Response(status=status.HTTP_204_NO_CONTENT)


# Shapes and fields every API module shares.


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class EnvironmentRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


def user_ref() -> UserRefSerializer:
    return UserRefSerializer(read_only=True, allow_null=True)


def id_field(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=ID_MAX, **kwargs)
