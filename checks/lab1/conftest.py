import pytest

from workbook.student import import_lab_module


@pytest.fixture
def runners():
    """The student's lab1/runners.py, imported from the target."""
    return import_lab_module("lab1.runners")
