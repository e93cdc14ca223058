"""Lab 2 — the event loop inside FastAPI. Edit app.py."""
