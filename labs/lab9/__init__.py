"""Lab 9 — serving at scale. Edit app.py, batching.py, predicting.py and flask_app.py."""
