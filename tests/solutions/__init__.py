"""Tests of the reference solutions beyond what their checks grade: one module per lab."""
