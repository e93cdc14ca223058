"""The workbook's own tooling, in rooms by role (CONTRIBUTING.md, "The tooling's rooms"): target selection and the
score model here; ``grader/`` (the pytest plugin), ``checkkit/`` (what checks and notebooks import),
``isolation/`` and ``classgrading/`` (``grade``), ``cli/`` (one module per command), ``builders/`` and ``mutation/``.

Notebooks start with::

    from workbook import use_target
    use_target()          # your code in labs/, or WORKBOOK_TARGET=solutions for the reference

and then import the lab package (``import lab1.runners``) exactly as the checks do.
"""

from workbook.target import use_target

__all__ = ["use_target"]
