"""Isolated runs: one lab's checks in a pytest process of its own, which the code under test cannot game.

* :mod:`~workbook.isolation.lab_process` — run one lab's checks (the plan, the command, the wall-clock limit and
  stall watch) and read back its results; used by ``grade``, ``status``, ``watch`` and ``mutate``;
* :mod:`~workbook.isolation.fork_server` — fork each run from a warm process with pytest and the libraries imported;
* :mod:`~workbook.isolation.sandbox` — the bubblewrap sandbox every submission runs in (docs/grading-threat-model.md);
* :mod:`~workbook.isolation.result_channel` — the signed channel results come back through (a pytest plugin);
* :mod:`~workbook.isolation.output_watch` — no secret a check hands the code under test reaches any output stream.
"""
