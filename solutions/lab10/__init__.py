"""Lab 10 — production extras: JSON errors, CSV uploads streamed back, JWT login, rate limits, deployment."""
