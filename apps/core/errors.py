"""Errors services raise; the pages and the API turn them into clear answers."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Blocker:
    """One reason a move cannot happen: a stable machine code and a sentence for people."""

    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class ServiceError(Exception):
    """A request a service refuses; `status` is the HTTP status the API answers with."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotAllowed(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    """The request is well-formed but the object's state refuses it now."""

    status = 409

    def __init__(self, message: str, *, blockers: list[Blocker] | None = None) -> None:
        super().__init__(message)
        self.blockers = list(blockers or [])
