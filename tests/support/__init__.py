"""What the project's own tests share: running checks in a pytest subprocess and reading its results
(:mod:`~tests.support.runner`), and stopping such a run when it stops making progress
(:mod:`~tests.support.progress`), not at a fixed wall-clock limit."""
