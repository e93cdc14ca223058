"""Lab 4 — settings, a model registry and loading in the lifespan. Start with settings.py, then registry.py."""
