"""``grade``: grade a class's submissions with the instructor's checks, in a way a submission cannot game.

    python -m workbook grade SUBMISSIONS_DIR --out DIR [--jobs N] [--ray ADDRESS]

SUBMISSIONS_DIR holds one entry per student, named after the student: a folder laid out like ``labs/``
(``alice/lab1/runners.py``), a folder with ``labs/`` inside it, or a ``.zip`` of either. Out come

* ``grades.csv`` — one row per student: a column per task (points), total, max, status, duration, and the
  hash of the checks used;
* ``feedback/NAME.json`` — every check's status, points and message, and what the grader noticed;
* ``item_analysis.csv`` (and ``.json``) — per check: pass rate, status counts, the most common failure;
* ``logs/NAME/labN.log`` — the checks' output for each lab (its head and tail);
* ``grading.json`` — the settings, the checks' hash and the plan (every check and its points).

The work is done in :mod:`workbook.classgrading` (intake, kit, run, reports). Every submission runs in its own
bubblewrap sandbox (:mod:`workbook.isolation.sandbox`), each lab in a pytest process forked inside it
(:mod:`workbook.isolation.fork_server`, :mod:`workbook.isolation.lab_process`); results come back through a
signed channel (:mod:`workbook.isolation.result_channel`). With ``--ray``, each (submission, lab) run is a task on
a Ray cluster, sandboxed on its node (:mod:`workbook.classgrading.cluster`); the outputs are the same. Without a sandbox, ``grade`` refuses untrusted
submissions unless told ``--no-sandbox``. How a grade is made, what the sandbox prevents, what is only made visible (status ``review``)
and what is not covered: ``docs/grading-threat-model.md``.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import sys
from pathlib import Path

from workbook import catalog
from workbook.classgrading.kit import GradingError
from workbook.classgrading.run import (
    DEFAULT_SUBMISSION_TIMEOUT,
    EXIT_INSTRUCTOR_FILES_CHANGED,
    LAB_SLACK,
    Settings,
    grade_class,
)

EPILOG = """\
Each submission is a folder (or .zip) named after the student, laid out like labs/: alice/lab1/runners.py.

Threat model (in full: docs/grading-threat-model.md). Every submission runs in its own bubblewrap sandbox: a
read-only system, virtual environment and copy of YOUR checks; one writable folder of its own; no view of your
files, the class folder, solutions/ or other submissions; no network; none of your environment variables; its
own PID namespace (every process it starts dies with it); limits on memory, processes, files and time. So a
submission cannot change another's grade, your checks or grades.csv, read your tokens or leave processes
behind. Only lab folders are copied (no conftest.py, pytest.ini or symbolic links); only labN packages are
importable from it; results come from a signed channel, never from the output. Tampering with its OWN run
(patching the checks' objects or clocks from inside the process) is made visible: status review, reasons in
feedback/NAME.json and grades.csv; you decide. Without bubblewrap (apt-get install bubblewrap) grade refuses to
run; --no-sandbox grades as your user with your files and network: trusted submissions only.

Statuses: ok, incomplete (a lab folder is missing), crashed, timeout, tampered (forged results or changed
grading machinery), review (see above), unreadable (bad zip, too many files or bytes, names too long: the
reason is in the notes), empty, not-graded (the run stopped).

Exit codes: 0 graded (whatever the scores), 2 bad arguments or no sandbox, 3 files on YOUR side (checks/,
workbook/, root config, site-packages) changed while grading: the run stopped and names the paths."""


def add_command(commands) -> None:
    parser = commands.add_parser(
        "grade",
        help="grade a folder of student submissions (instructors)",
        description="Grade every submission in SUBMISSIONS_DIR with this workbook's checks.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "submissions",
        metavar="SUBMISSIONS_DIR",
        type=Path,
        help="one folder or .zip per student, each laid out like labs/",
    )
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="DIR",
        help="where grades.csv, feedback/, item_analysis.csv, logs/ and grading.json go",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=2 * (os.cpu_count() or 1),
        metavar="N",
        help="submissions graded at the same time (default: twice the cores, %(default)s: checks "
        "mostly wait); far more makes timing checks unreliable",
    )
    parser.add_argument(
        "--lab",
        action="append",
        dest="labs",
        metavar="LAB",
        help="grade only this lab (repeat for several); default: every lab with checks",
    )
    parser.add_argument(
        "--lab-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="wall-clock limit for one lab's checks (default: the sum of its checks' timeouts + "
        f"{LAB_SLACK:g} s; a hung check stops the lab much sooner)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_SUBMISSION_TIMEOUT,
        metavar="SECONDS",
        help="wall-clock limit for one submission, all labs together (default %(default)g)",
    )
    parser.add_argument(
        "--check-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="timeout of a check that sets none itself (default: the grader's, as students see it)",
    )
    parser.add_argument(
        "--no-fork-server",
        dest="fork_server",
        action="store_false",
        help="start a new Python for every lab run instead of forking one that has pytest and the "
        "libraries imported (slower; the results are the same; only with --no-sandbox: in the "
        "sandbox the runs are always forked from a server inside it)",
    )
    parser.add_argument(
        "--no-sandbox",
        dest="sandbox",
        action="store_false",
        help="grade without the bubblewrap sandbox, as the grading user (only for submissions you "
        "trust: see the threat model below)",
    )
    parser.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="grade on a Ray cluster: each (submission, lab) run is a task on some node, in a sandbox there "
        "(ADDRESS: the head's HOST:PORT, or auto); the outputs are written here, as a local run writes them. "
        "Set-up: README.md, 'Grading on a Ray cluster'",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace the results already in --out (otherwise --out must be empty or new)",
    )
    parser.set_defaults(run=run_command)


def run_command(args: argparse.Namespace) -> int:
    known = list(catalog.labs())
    labs = args.labs or known
    if unknown := [lab for lab in labs if lab not in known]:
        print(f"unknown lab(s) {', '.join(unknown)}; the workbook has {', '.join(known)}", file=sys.stderr)
        return 2
    if args.jobs < 1 or (args.lab_timeout is not None and args.lab_timeout <= 0) or args.timeout <= 0:
        print("--jobs, --lab-timeout and --timeout must be positive", file=sys.stderr)
        return 2
    out: Path = args.out
    if out.exists() and any(out.iterdir()):
        if not args.force:
            print(f"{out} already holds results: use --force to replace them, or choose another --out", file=sys.stderr)
            return 2
        for name in ("grades.csv", "item_analysis.csv", "item_analysis.json", "grading.json"):
            (out / name).unlink(missing_ok=True)
        for name in ("feedback", "logs"):
            shutil.rmtree(out / name, ignore_errors=True)
    settings = Settings(
        labs=sorted(labs, key=lambda lab: int(lab[3:])),
        jobs=args.jobs,
        lab_timeout=args.lab_timeout,
        submission_timeout=args.timeout,
        check_timeout=args.check_timeout,
        fork_server=args.fork_server,
        sandbox=args.sandbox,
        ray=args.ray,
    )
    try:
        result = grade_class(args.submissions, out, settings, progress=lambda line: print(line, flush=True))
    except GradingError as exc:
        print(f"cannot grade: {exc}", file=sys.stderr)
        return 2
    statuses = collections.Counter(g.status for g in result.grades)
    print(
        f"graded {len(result.grades)} submissions in {result.duration:g} s: "
        + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
    )
    print(f"results in {out}: grades.csv, feedback/, item_analysis.csv, logs/, grading.json")
    print(f"grades.csv SHA-256 {result.grades_sha256} (written last; keep it to show the file is unchanged)")
    if result.server_died_while_grading:
        print(
            "note: the fork server (the checks' parent process) was killed while grading "
            f"{', '.join(result.server_died_while_grading)}; the rest was graded without it. Look at their code."
        )
    if result.instructor_files_changed:
        print(
            "\nWARNING: files of YOUR workbook or virtual environment changed on disk while grading (the run "
            "stopped there): "
            + ", ".join(result.instructor_files_changed[:10])
            + f"\nSubmissions being graded when it was noticed: {', '.join(result.changed_while_grading)}."
            "\nThe grades used the snapshot taken at the start. Restore your files (git checkout -- checks "
            "workbook) and re-grade those submissions with --jobs 1 to find the one responsible.",
            file=sys.stderr,
        )
        return EXIT_INSTRUCTOR_FILES_CHANGED
    return 0
