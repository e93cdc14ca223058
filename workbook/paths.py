"""Where things live in the repository."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LABS = ROOT / "labs"
SOLUTIONS = ROOT / "solutions"
CHECKS = ROOT / "checks"
NOTEBOOKS = ROOT / "notebooks"
DATA = ROOT / "data"
# Folders tools write beside the code (pytest, Jupyter, the linters' caches, Hypothesis' examples and constants):
# never code, never graded, never a reason to think the workbook changed.
CACHE_DIRS = frozenset(
    {"__pycache__", ".pytest_cache", ".ipynb_checkpoints", ".mypy_cache", ".ruff_cache", ".hypothesis"}
)
