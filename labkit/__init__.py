"""labkit: the small runtime that lab code may import — given, finished, documented, and nothing else.

Every lab is a package of its own (``labN``) that imports no other lab. What several labs need and no lab
teaches lives here, finished, so that a lab does not carry a copy of it:

* :mod:`labkit.docs` — ``serve_docs_offline(app)``: ``/docs`` and ``/redoc`` from local files, not a CDN,
  so the API pages work in a classroom without internet (notebook 2 first, notebook 7 explains it).
* :mod:`labkit.validation_errors` — ``install_safe_validation_handler(app)``: FastAPI's 422 answer, made
  safe to serialise (a refused ``NaN`` stays a 422 instead of a 500), and ``limit_request_body(app)``: 413
  for a body that is too large (notebook 5).
* :mod:`labkit.registry` — the finished model registry of lab 4 (Task 4.2) that labs 5 onwards serve
  from, and the one rule for a model's ``kind``: :func:`labkit.registry.model_kind`.
* :mod:`labkit.datasets` — the workbook's data, offline: the text corpus in ``data/`` and iris.
* :mod:`labkit.models` — the reference models (trained from that data, saved in lab 3's format) that
  checks, notebooks and lab 10's own tests serve.

Who may import it: everything — the labs (``labs/``, ``solutions/``, lab 10's tests), the checks, the
notebooks, the tooling, the benchmark and the Docker image. It imports nothing from ``workbook/`` (the
tooling: grader, starter builder, target selection), so a lab folder plus ``labkit/`` (and ``data/``) run
with the pinned requirements and ``PYTHONPATH`` alone: ``PYTHONPATH=labs:. uvicorn lab2.app:app``.
``tests/labkit/test_labkit.py`` keeps it that way.
"""
