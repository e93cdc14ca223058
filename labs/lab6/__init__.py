"""Lab 6 — background tasks: a prediction log written after the answer, and jobs for long work. Edit prediction_log.py, jobs.py and app.py."""
