"""Lab 5 — validation: strict request schemas, probabilities in the answer, GET/POST and batches. Start with schemas.py."""
