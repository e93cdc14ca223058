import pytest

from workbook.checkkit.student import import_lab_module, lab_attr


@pytest.fixture
def app():
    """The student's FastAPI app from lab2/app.py."""
    return lab_attr(import_lab_module("lab2.app"), "app")
