"""Tests of ``workbook/checkkit/``."""
