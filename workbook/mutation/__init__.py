"""Mutation testing of a lab's checks: the engine (:mod:`~workbook.mutation.engine`: the mutants, their grading, the
cache and the report); the command is :mod:`workbook.cli.mutate`.
"""
