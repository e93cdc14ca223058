"""Lab 7 — middleware and authentication: an API key, a whitelist, request logs and CORS. Edit auth.py, request_log.py and app.py."""
