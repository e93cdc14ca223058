"""Tests of ``workbook/``, one folder per room (``grader/``, ``checkkit/``, ``classgrading/``, ``cli/``, ``mutation/``)."""
