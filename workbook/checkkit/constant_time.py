"""Proving a comparison is constant-time: checks record every ``compare_digest`` call instead of timing one.

``record_compare_digest(monkeypatch, module)`` wraps ``hmac.compare_digest`` and ``secrets.compare_digest`` (and
the name in ``module`` when it was imported with ``from hmac import compare_digest``) for the rest of the check,
and returns the list of calls; labs 7 (API keys) and 10 (password hashes) use it.
"""

from __future__ import annotations

import hmac
import secrets
from types import ModuleType


def record_compare_digest(monkeypatch, module: ModuleType) -> list[tuple[object, object]]:
    calls: list[tuple[object, object]] = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(secrets, "compare_digest", spy)
    monkeypatch.setattr(hmac, "compare_digest", spy)
    if hasattr(module, "compare_digest"):  # from hmac (or secrets) import compare_digest
        monkeypatch.setattr(module, "compare_digest", spy)
    return calls
