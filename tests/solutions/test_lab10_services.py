"""Lab 10, Task 10.6: the services the student's tests are graded against.

The reference is solutions/lab10 (students' copies have no solutions/, so there the task is graded by the
instructor); each broken service is a copy of it with one edit from checks/lab10/services/broken.toml.
"""

import pytest

from checks.lab10.student_tests import build_service, load_broken


@pytest.mark.parametrize("broken", load_broken(), ids=lambda b: b.bug[:40])
def test_each_broken_service_is_one_edit_of_the_reference(broken, tmp_path):
    service = build_service(tmp_path, broken)
    edited = service / "lab10" / broken.file
    assert broken.new in edited.read_text() and broken.old not in edited.read_text()
    compile(edited.read_text(), str(edited), "exec")
