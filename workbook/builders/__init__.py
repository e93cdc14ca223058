"""What the workbook builds from itself.

* :mod:`~workbook.builders.starters` — the student starters in ``labs/`` from the marked ``solutions/``
  (``build-starters``; ``reset`` and ``mutate`` read the same ``# Task N.K`` marks);
* :mod:`~workbook.builders.student_copy` — the copy handed out to students (``build --student``), with the README
  and Makefile in ``handout/``.
"""
