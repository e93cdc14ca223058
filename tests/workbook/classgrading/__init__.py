"""Tests of ``workbook/classgrading/``."""
