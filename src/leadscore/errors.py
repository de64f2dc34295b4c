"""Exceptions, grouped by what the caller does next.

    LeadscoreError
    ├── ConfigError          fix a file or a setting, then run again (exit code 2)
    │   └── ModelFileError   a scoring model file is invalid: file, line, field, what is allowed
    ├── InputError           one input record is malformed: file, line number, why
    ├── StoreError           the state store refused an operation (unreachable, locked, too new)
    ├── CycleInterruptedError  shutdown stopped a cycle between two committed steps
    ├── ScoringWorkerError   a scoring worker process failed; its committed pages stay
    └── PlatformError        a platform call failed (see the subclasses below; StreamUnavailableError: an
                             optional stream the account does not have, left out of the cycle)

Each class carries the facts a caller needs to act, not just a message.
"""

from __future__ import annotations

from dataclasses import dataclass


class LeadscoreError(Exception):
    """Base of every error leadscore raises on purpose."""


class ConfigError(LeadscoreError):
    """A configuration the user must fix; the CLI exits with code 2."""


@dataclass(frozen=True, slots=True)
class ModelProblem:
    """One thing wrong in a model file, located precisely enough to fix blind."""

    field: str
    line: int | None
    message: str

    def describe(self, file: str) -> str:
        where = f"{file}:{self.line}" if self.line is not None else file
        return f"{where}: {self.field}: {self.message}"


class ModelFileError(ConfigError):
    """The scoring model file cannot be used; ``problems`` lists every fault found."""

    def __init__(self, file: str, problems: list[ModelProblem]) -> None:
        self.file = file
        self.problems = problems
        lines = "\n".join(f"  {p.describe(file)}" for p in problems)
        super().__init__(f"invalid scoring model {file}:\n{lines}")


class InputError(LeadscoreError):
    """A line of an input file could not be read as the record it should hold."""

    def __init__(self, file: str, line: int, reason: str) -> None:
        self.file = file
        self.line = line
        self.reason = reason
        super().__init__(f"{file}:{line}: {reason}")


class StoreError(LeadscoreError):
    """The state store cannot serve the request; ``fix`` says what to do about it."""

    def __init__(self, message: str, fix: str) -> None:
        self.fix = fix
        super().__init__(f"{message} ({fix})")


class LeaseLostError(LeadscoreError):
    """The source's lease ended mid-cycle (its database session was closed); another replica may sync the source
    now, so this one stops before its next write."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        super().__init__(
            f"source {source}: its lease on the store was lost ({reason}); the cycle stops before its next write, "
            "and the replica that holds the source now carries on"
        )


class PlatformError(LeadscoreError):
    """A platform call failed; subclasses say whether and when to try again."""

    def __init__(self, message: str, *, source: str = "", endpoint: str = "", status: int | None = None) -> None:
        self.source = source
        self.endpoint = endpoint
        self.status = status
        super().__init__(message)


class RetryableError(PlatformError):
    """Safe to repeat after ``retry_after`` seconds (a 5xx, a dropped connection, a 429)."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        source: str = "",
        endpoint: str = "",
        status: int | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, source=source, endpoint=endpoint, status=status)


class RateLimitedError(RetryableError):
    """The platform said 429; ``retry_after`` is its Retry-After, or our policy's wait when it gave none."""


class BudgetExhaustedError(PlatformError):
    """The daily budget (less the share kept free for others) is spent: stop politely until ``resets_at``."""

    def __init__(
        self,
        message: str,
        *,
        resets_at: str | None = None,
        source: str = "",
        endpoint: str = "",
        status: int | None = None,
    ) -> None:
        self.resets_at = resets_at
        super().__init__(message, source=source, endpoint=endpoint, status=status)


class AuthError(PlatformError):
    """Credentials were refused even after one refresh: fix the token, nothing retries this."""


class ExpiredCredentialsError(AuthError):
    """The platform refused the credentials as expired or invalid (a 401): renewable once, where a refresh token or
    login is configured; a refused scope (a 403) is a plain AuthError and is never renewed."""


class StreamUnavailableError(PlatformError):
    """The platform refused an optional stream for this account (a plan without the API, a scope not granted):
    the stream is left out and the rest of the cycle runs; ``fix`` says what would turn it on."""

    def __init__(self, stream: str, reason: str, fix: str, *, source: str = "", endpoint: str = "") -> None:
        self.stream = stream
        self.reason = reason
        self.fix = fix
        super().__init__(f"stream {stream} is not available: {reason}; {fix}", source=source, endpoint=endpoint)


class BatchRejectedError(PlatformError):
    """The platform refused a whole batch for one bad record (a 400 that names one record); split and retry."""


class CycleInterruptedError(LeadscoreError):
    """A shutdown stopped the cycle between two committed steps; the next cycle resumes from there."""


class ScoringWorkerError(LeadscoreError):
    """A worker process of a parallel rescore failed on a range of contacts.

    It carries the worker's error as text: the pages committed before it stay
    committed and the contacts after it stay marked, so the next cycle resumes.
    """
