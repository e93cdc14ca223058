"""Tests of ``workbook/grader/``."""
