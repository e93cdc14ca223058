"""The tests that prove the lab content rather than the tooling's code: every check real (passes on the solutions,
"not started" on the starters, catches its kept mistakes and mutants), traceable to the statement and worded for a
student; the notebooks and starters in order; the solution apps conformant, safe with slow clients and in a browser."""
