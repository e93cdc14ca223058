"""labs/ is exactly what the builder makes from solutions/, and the builder does what it says."""

import textwrap

import pytest

from workbook.builders import starters


def test_starters_are_in_sync_with_the_solutions():
    problems = starters.drift()
    assert not problems, "labs/ drifted from solutions/: run `python -m workbook build-starters`\n" + "\n".join(
        problems
    )


def test_marked_body_is_replaced_and_the_rest_kept():
    source = textwrap.dedent('''
        import asyncio

        def helper():
            return 1

        async def run(delays: list[float]) -> list[str]:  # Task 1.3
            """Run them all."""
            tasks = [asyncio.sleep(d) for d in delays]
            return await asyncio.gather(*tasks)
    ''')
    stubbed = starters.stub_source(source)
    assert "def helper():\n    return 1" in stubbed
    assert 'async def run(delays: list[float]) -> list[str]:  # Task 1.3\n    """Run them all."""\n' in stubbed
    assert 'raise NotImplementedError("Task 1.3: Run slow tasks concurrently")' in stubbed
    assert "gather" not in stubbed


def test_generators_stay_generators():
    source = textwrap.dedent('''
        async def lifespan(app):  # Task 1.1
            """Load things."""
            app.loaded = True
            yield
    ''')
    namespace = {}
    exec(starters.stub_source(source), namespace)
    import inspect

    assert inspect.isasyncgenfunction(namespace["lifespan"])


def test_unknown_task_is_refused():
    with pytest.raises(starters.MarkError):
        starters.stub_source("def f():  # Task 99.1\n    return 1\n")


def test_generated_starters_compile():
    files = [path for lab in starters.lab_dirs() for path in (starters.LABS / lab.name).rglob("*.py")]
    assert files
    for path in files:
        compile(path.read_text(), str(path), "exec")
