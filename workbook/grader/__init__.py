"""The grader: the pytest plugin every run in this repository loads (``conftest.py``: ``workbook.grader.plugin``).

It selects the target (``--target``), gives each check its timeout and stall watch, turns every outcome into one of
the statuses of :mod:`workbook.results` with a message for a student (where to read, which task a failure goes
through), serves the shared ``client``/``async_client`` fixtures, prints the score table and writes
``--grade-json``. What checks import lives in :mod:`workbook.checkkit`.
"""
