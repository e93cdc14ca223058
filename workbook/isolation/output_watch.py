"""Everything code writes anywhere while a check runs, to prove that no secret reaches any output stream.

Under uvicorn, gunicorn or in a container, stdout and stderr *are* the log: a ``print(api_key)`` is as
public as ``logger.info(api_key)``. A check collects, while it runs,

* every logging record of every logger (also loggers that do not propagate to the root), at any level,
* what is written to ``sys.stdout`` and ``sys.stderr`` (``print``, ``traceback.print_exc``, warnings),
* what reaches file descriptors 1 and 2 directly (``os.write(1, …)``, ``sys.__stdout__``, C code),

and :func:`secret_leaks` says which secret showed up where. Checks add what the client saw (response
bodies and headers) with :meth:`Outputs.client_saw`.

Use :func:`guard_check` (a fixture's body): pytest re-installs its own capture of ``sys.stdout`` and of
file descriptors 1 and 2 at each phase of a check (setup, call, teardown), which would undo redirections of
our own, so the streams are read from pytest's ``capfd``, which captures both levels across all three phases. Used by the checks of every lab that holds a secret (7, 8, 10): a
lesson once taught stays graded.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Outputs:
    """What was written, per stream."""

    logging: list[str] = field(default_factory=list)
    stdout: io.StringIO = field(default_factory=io.StringIO)
    stderr: io.StringIO = field(default_factory=io.StringIO)
    fd1: str = ""
    fd2: str = ""
    seen_by_client: list[str] = field(default_factory=list)

    def client_saw(self, *responses) -> None:
        """Add responses (httpx/TestClient responses or recorder exchanges) to what is searched."""
        for response in responses:
            headers = getattr(response, "headers", {}) or {}
            body = getattr(response, "text", None)
            if body is None:
                body = getattr(response, "body", b"")
                body = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
            self.seen_by_client.append(f"{dict(headers)!r}\n{body}")

    def streams(self) -> dict[str, str]:
        return {
            "a logging record": "\n".join(self.logging),
            "stdout (print)": self.stdout.getvalue(),
            "stderr": self.stderr.getvalue(),
            "stdout": self.fd1,
            "stderr (or a traceback on it)": self.fd2,
            "a response (body or headers)": "\n".join(self.seen_by_client),
        }


def _describe(record: logging.LogRecord) -> str:
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a record whose args do not fit its format
        message = f"{record.msg!r} % {record.args!r}"
    return f"{record.name}: {message} {vars(record)!r}"


@contextmanager
def watch_logging(outputs: Outputs) -> Iterator[Outputs]:
    """Every logging record of every logger, at any level, into ``outputs.logging``."""
    real_handle = logging.Logger.handle

    def handle(self: logging.Logger, record: logging.LogRecord) -> None:
        outputs.logging.append(_describe(record))
        return real_handle(self, record)

    root = logging.getLogger()
    old_level = root.level
    logging.Logger.handle = handle  # type: ignore[method-assign]  # on purpose: every logger's records, any level
    root.setLevel(logging.DEBUG)
    try:
        yield outputs
    finally:
        logging.Logger.handle = real_handle  # type: ignore[method-assign]  # put back
        root.setLevel(old_level)


def guard_check(capfd, secrets: Mapping[str, str]) -> Iterator[Outputs]:
    """A fixture's body: watch the whole check, then fail it if a secret reached any output.

    ``capfd`` is pytest's fixture (request it before the app's fixtures so it also sees their start-up
    and shut-down).
    """
    outputs = Outputs()
    with watch_logging(outputs):
        yield outputs
    captured = capfd.readouterr()
    outputs.fd1, outputs.fd2 = captured.out, captured.err
    leaks = secret_leaks(outputs, secrets)
    assert not leaks, leak_message(leaks)


def secret_leaks(outputs: Outputs, secrets: Mapping[str, str]) -> list[str]:
    """``"<secret name> in <where>"`` for every secret found in any stream or in what the client saw."""
    places = outputs.streams()
    return [
        f"{name} in {where}"
        for name, value in secrets.items()
        if value
        for where, text in places.items()
        if value in text
    ]


def leak_message(leaks: list[str]) -> str:
    """The student's message for :func:`secret_leaks`' findings."""
    return (
        f"a secret reached an output: {'; '.join(leaks[:4])}. Under uvicorn or in a container stdout and "
        "stderr are the log, as public as a logging record: never print, log or return a key, a password "
        "or a token (not even a wrong one, often a typo of the right one); log the fields you choose."
    )
