"""Tests of ``workbook/mutation/``."""
