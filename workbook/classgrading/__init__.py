"""Class grading (``python -m workbook grade``), by responsibility:

* :mod:`~workbook.classgrading.intake` — find and read the submissions (folders or zips), refuse what breaks a rule;
* :mod:`~workbook.classgrading.kit` — what is copied into every run, and the instructor's side checked whole;
* :mod:`~workbook.classgrading.run` — grade the class: each submission's labs in its sandbox, with time limits;
* :mod:`~workbook.classgrading.reports` — grades.csv, feedback, the item analysis, grading.json.

The command and its options are :mod:`workbook.cli.grade`; how a grade is made and what a submission can and cannot
do: ``docs/grading-threat-model.md``.
"""
