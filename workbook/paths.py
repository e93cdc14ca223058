"""Where things live in the repository."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LABS = ROOT / "labs"
SOLUTIONS = ROOT / "solutions"
CHECKS = ROOT / "checks"
NOTEBOOKS = ROOT / "notebooks"
DATA = ROOT / "data"
