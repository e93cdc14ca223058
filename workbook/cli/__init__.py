"""The commands of ``python -m workbook``, one module each, with its ``add_command(commands)`` (its options) and
the function that runs it: ``status``, ``watch``, ``hint``, ``reset``, ``doctor`` for students; ``grade``,
``build``, ``build-starters`` for instructors; ``mutate`` for authors. ``workbook/__main__.py`` only dispatches.
"""
