"""Exit codes and the failures that carry them. Expected failures end in a message, never a
traceback."""

from enum import IntEnum
from typing import Any


class Exit(IntEnum):
    OK = 0
    REFUSED = 1  # the server said no: a gate's blockers, a conflict, invalid input, not found
    USAGE = 2  # wrong arguments or no configuration
    AUTH = 3  # no token, a bad token, or one without the right to do this
    TIMEOUT = 4  # the wait ran out
    SERVER = 5  # network error, server error, or an answer that is not the API's


EXIT_CODES_HELP = """\b
Exit codes:
  0  done
  1  refused: a gate's blockers, a conflict, invalid input, not found
  2  usage error or no configuration
  3  authentication: missing or bad token, or not allowed
  4  timed out waiting
  5  server or network error"""


class CliError(Exception):
    """A failure to report and exit with; `blockers` and `status` come from the API's answer."""

    def __init__(
        self,
        message: str,
        code: Exit,
        *,
        status: int | None = None,
        blockers: list[dict[str, Any]] | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.blockers = blockers or []
        self.body = body

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"error": self.message, "exit_code": int(self.code)}
        if self.status is not None:
            data["status"] = self.status
        if self.blockers:
            data["blockers"] = self.blockers
        return data
