"""The benchmark: lab 9's solution service against the tutorial baseline, on real servers, on this machine.

Run it from the repository root (it takes about ten minutes; ``--quick`` about three)::

    .venv/bin/python -m bench            # writes bench/RESULTS.md, bench/results.png, bench/results.json

It is not part of the test suite: the numbers depend on the machine and on whatever else runs on it.
"""
