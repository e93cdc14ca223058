"""Lab 3 — saving and loading models with joblib. Edit persistence.py."""
