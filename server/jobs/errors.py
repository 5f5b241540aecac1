"""How a job fails: handlers raise JobError; the runner names the failures it detects itself."""

from __future__ import annotations

from enum import StrEnum


class JobErrorCode(StrEnum):
    """Codes the queue and runner set themselves; handlers add their own (e.g. "bad_input")."""

    crashed = "crashed"  # the handler raised something other than JobError (a bug, most likely)
    lease_expired = "lease_expired"  # its worker stopped renewing the lease: killed, crashed, stuck


class JobError(Exception):
    """A handler's failure with a code for programs and a message for people.

    `retry=False` (the default) fails the job for good: the handler knows the input is bad.
    `retry=True` tries again after a back-off while attempts remain (a network share was away).
    """

    def __init__(self, code: str, message: str, *, retry: bool = False) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retry = retry


class JobStopped(Exception):
    """Raised by `report()` once the job must stop (cancelled, lease lost, worker stopping).

    Async handlers are cancelled anyway; this is how work running in a thread notices.
    """
