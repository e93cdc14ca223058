"""The workbook's own tooling: target selection, the grader, the starter builder and the CLI.

Notebooks start with::

    from workbook import use_target
    use_target()          # your code in labs/, or WORKBOOK_TARGET=solutions for the reference

and then import the lab package (``import lab1.runners``) exactly as the checks do.
"""

from workbook.target import use_target

__all__ = ["use_target"]
