"""Lab 1 — asyncio: waiting one after another, and waiting at the same time. Edit runners.py."""
