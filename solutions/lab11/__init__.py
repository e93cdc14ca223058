"""Lab 11 — embeddings and semantic search. Edit embedding.py, index.py, store.py, documents.py and app.py."""
