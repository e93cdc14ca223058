"""A model file that tells on itself: every load and every ``predict`` call is written to a log, with the pid.

The checks of lab 12 cannot reach into a Ray replica's process to count calls, so the model does the counting:
:func:`write_spy_models` writes the reference models wrapped in :class:`SpyModel`. Unpickling one (a load)
appends ``load <pid> <name>`` to ``<log_dir>/events.log``; each ``predict`` appends ``predict <pid> <name>
<rows>``. Each line is one small ``write`` of an append-mode file, so lines from concurrent processes do not
mix. Replicas import this module by name (``checks.lab12.spy``): the repository root is on their path.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit.models import MODEL_NAMES, reference_model, write_model

EVENTS = "events.log"


class SpyModel:
    """A fitted pipeline that logs its loads and its ``predict`` calls; it predicts what the real one does."""

    def __init__(self, real: Any, name: str, log_dir: str) -> None:
        self.real = real
        self.name = name
        self.log_dir = log_dir

    def __getstate__(self) -> dict:
        return {"real": self.real, "name": self.name, "log_dir": self.log_dir}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._log(f"load {os.getpid()} {self.name}")

    def __getattr__(self, attribute: str) -> Any:
        # n_features_in_ (the registry's rule for a tabular model), classes_ ... come from the real pipeline
        if attribute in {"real", "name", "log_dir"}:
            raise AttributeError(attribute)
        return getattr(self.real, attribute)

    def predict(self, rows: Any) -> Any:
        self._log(f"predict {os.getpid()} {self.name} {len(rows)}")
        return self.real.predict(rows)

    def _log(self, line: str) -> None:
        with open(Path(self.log_dir) / EVENTS, "a", encoding="utf-8") as log:
            log.write(line + "\n")


def write_spy_models(model_dir: Path, log_dir: Path) -> None:
    """The reference models, each wrapped in a :class:`SpyModel` logging to ``log_dir``."""
    for name in MODEL_NAMES:
        pipeline, target_names = reference_model(name)
        write_model(SpyModel(pipeline, name, str(log_dir)), target_names, Path(model_dir) / f"{name}.joblib")


@dataclass
class Events:
    """What the spy models logged: loads per (pid, model), and the rows of each ``predict`` call per model."""

    loads: Counter = field(default_factory=Counter)  # (pid, name) -> loads
    predicts: dict[str, list[tuple[int, int]]] = field(default_factory=lambda: defaultdict(list))  # name -> (pid, rows)

    @classmethod
    def read(cls, log_dir: Path, start: int = 0, stop: int | None = None) -> Events:
        """The events logged in ``log_dir`` (lines ``start`` to ``stop``: one phase of a run)."""
        events = cls()
        path = Path(log_dir) / EVENTS
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        for line in lines[start:stop]:
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "load":
                events.loads[(int(parts[1]), parts[2])] += 1
            elif len(parts) == 4 and parts[0] == "predict":
                events.predicts[parts[2]].append((int(parts[1]), int(parts[3])))
        return events

    def load_pids(self) -> set[int]:
        return {pid for pid, _ in self.loads}
