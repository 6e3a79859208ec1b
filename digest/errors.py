"""Exceptions that library code raises; the CLI turns them into messages and exit codes.

Every error carries a hint: what the user can do about it. The hint is part of the
message a user sees, so tests assert on it.
"""

from __future__ import annotations


class DigestError(Exception):
    """Base of every error digest reports to a user."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\nhint: {self.hint}" if self.hint else self.message

    def __reduce__(self) -> tuple[object, ...]:
        # Whole, with its hint and any fields of its own, across a process boundary (a
        # helper process answers with the error it met, raised again in the main one).
        return (_restore, (type(self), dict(self.__dict__)))


def _restore(kind: type[DigestError], fields: dict[str, object]) -> DigestError:
    error = kind.__new__(kind)
    Exception.__init__(error, fields.get("message", ""))
    error.__dict__.update(fields)
    return error


class ConfigError(DigestError):
    """The config file or a command-line option is wrong."""


class StateError(DigestError):
    """The state file cannot be used as it is (corrupt, newer schema, unreadable)."""


class NoState(StateError):
    """There is no state yet where the config points (nothing has run there)."""


class OutputError(DigestError):
    """An output file could not be written; the state was not advanced."""

    exit_code = 3


class TemplateProblem(DigestError):
    """A template (the user's or ours) failed to load or render."""

    exit_code = 3


class LockBusy(DigestError):
    """Another digest process holds the lock on this state."""

    exit_code = 75  # EX_TEMPFAIL: try again later

    def __init__(self, message: str, hint: str | None = None, *, holder: str = "") -> None:
        super().__init__(message, hint)
        self.holder = holder  # who holds it ("pid 12 on host-a since ..."), if known


class Unavailable(DigestError):
    """The state's database cannot be reached now (down, restarting, network)."""

    exit_code = 75  # cron and systemd retry a temporary failure


class DeliveryError(DigestError):
    """An email could not be delivered."""

    exit_code = 4

    def __init__(self, message: str, hint: str | None = None, *, temporary: bool) -> None:
        super().__init__(message, hint)
        self.temporary = temporary


class NotFound(DigestError):
    """Something the user named (an issue, a file) does not exist."""


class OwnershipError(DigestError):
    """The output folder belongs to another state (or to none this state knows)."""


class InternalError(DigestError):
    """A bug: digest itself failed. Reported with a pointer to the traceback."""

    exit_code = 70  # EX_SOFTWARE


class PendingOutputs(DigestError):
    """An issue is recorded but its files are not all written yet."""

    exit_code = 3


class NoteNotRebuilt(DigestError):
    """An issue's note was edited after the issue was built: sending now would send the
    old text, which is not what the editor read and changed."""

    exit_code = 3


class FetchUnavailable(DigestError):
    """The listing's API cannot be reached now, or asks us to slow down: a network
    failure, a timeout, 5xx or 429 answers that outlasted the retries. What was fetched
    before stays written; a later fetch goes on from there."""

    exit_code = 75  # cron and systemd retry a temporary failure

    def __init__(
        self, message: str, hint: str | None = None, *, retry_after: float | None = None
    ) -> None:
        super().__init__(message, hint)
        self.retry_after = retry_after  # seconds the API asked us to wait, when it said


class NotAListing(DigestError):
    """The API answered, but not with a day's listing (an HTML page, broken JSON, a
    refusal, a body over the size cap): asking again at once would get the same, so a
    person has to look."""

    exit_code = 1
