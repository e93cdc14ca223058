"""Known-wrong implementations: realistic student mistakes, each kept as a small edit of the solution.

``tests/mistakes/labN.toml`` lists them. Each names the solution file, the exact text to replace and its
replacement, and the checks that must catch it. Applying the edit to a copy of ``solutions/labN`` gives a
wrong lab; ``tests/test_mistakes.py`` grades that copy and requires each named check to fail. An edit that
no longer matches the solution fails loudly, so the fixtures cannot silently rot.
"""

from __future__ import annotations

import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

from workbook.paths import SOLUTIONS

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Edit:
    old: str
    new: str


@dataclass(frozen=True)
class Mistake:
    lab: str
    name: str
    file: str
    edits: tuple[Edit, ...]
    caught_by: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.lab}: {self.name}"

    def apply(self, target: Path) -> Path:
        """Write ``target/labN`` = the solution with this mistake in it; return ``target``."""
        lab_dir = target / self.lab
        shutil.copytree(SOLUTIONS / self.lab, lab_dir, ignore=shutil.ignore_patterns("__pycache__"))
        path = lab_dir / self.file
        source = path.read_text(encoding="utf-8")
        for edit in self.edits:
            count = source.count(edit.old)
            if count != 1:
                raise AssertionError(
                    f"mistake {self.id!r}: the text to replace occurs {count} times in solutions/{self.lab}/"
                    f"{self.file} (expected once); update tests/mistakes/{self.lab}.toml"
                )
            source = source.replace(edit.old, edit.new)
        path.write_text(source, encoding="utf-8")
        return target


def load_mistakes() -> list[Mistake]:
    mistakes = []
    for spec_file in sorted(HERE.glob("lab*.toml"), key=lambda p: int(p.stem[3:])):
        for raw in tomllib.loads(spec_file.read_text(encoding="utf-8"))["mistake"]:
            edits = raw.get("edits") or [{"old": raw["old"], "new": raw["new"]}]
            mistakes.append(Mistake(
                lab=spec_file.stem, name=raw["name"], file=raw["file"],
                edits=tuple(Edit(e["old"], e["new"]) for e in edits),
                caught_by=tuple(raw["caught_by"]),
            ))
    return mistakes
