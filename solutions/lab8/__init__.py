"""Lab 8 — caching predictions: a joblib disk cache and a bounded in-memory cache. Edit the *_cache.py files, caching.py and app.py."""
