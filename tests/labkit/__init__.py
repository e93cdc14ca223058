"""Tests of ``labkit/``: what lab code may import, and that it imports nothing from ``workbook``."""
