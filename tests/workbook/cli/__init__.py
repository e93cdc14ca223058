"""Tests of ``workbook/cli/``."""
