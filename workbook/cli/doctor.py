"""``doctor``: is this machine ready for the workbook? Each problem comes with the command that fixes it.

Checks the Python version, every pinned version in ``requirements.txt`` against what is installed, that those
packages import, that the notebooks' kernel exists and runs this Python with the workbook, that the usual
ports (JupyterLab's and uvicorn's) are free, that the workbook's own folders are in place, and that lab 11's
embedding model (``data/embedding_model/``) loads with model2vec, offline.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from workbook.paths import CHECKS, DATA, LABS, NOTEBOOKS, ROOT

REQUIREMENTS = ROOT / "requirements.txt"
PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*==\s*([^\s;#]+)")
FIX_INSTALL = "make setup   (or: .venv/bin/pip install -r requirements.txt)"
UVICORN_PORT = 8000
EMBEDDING_MODEL = DATA / "embedding_model"
EMBEDDING_FILES = ("config.json", "model.safetensors", "tokenizer.json")  # what model2vec's loader reads
FIX_EMBEDDING_MODEL = (
    "git checkout -- data/embedding_model   (or rebuild it: .venv/bin/python data/make_embedding_model.py)"
)
OK, WARN, FAIL = "ok", "warn", "FAIL"


@dataclass
class Finding:
    level: str  # ok, warn, FAIL
    what: str
    detail: str = ""
    fix: str = ""


def pinned(requirements: Path = REQUIREMENTS) -> list[tuple[str, str]]:
    """(distribution, version) for every ``name==version`` line."""
    pins = []
    for line in requirements.read_text(encoding="utf-8").splitlines():
        if match := PIN.match(line.split("#", 1)[0]):
            pins.append((match.group(1), match.group(2)))
    return pins


def check_python() -> Finding:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info[:2] == (3, 11):
        return Finding(OK, f"Python {version}")
    return Finding(
        FAIL,
        f"Python {version}",
        "the workbook needs Python 3.11",
        "install Python 3.11, then: rm -rf .venv && make setup PYTHON=/path/to/python3.11",
    )


def check_environment() -> Finding:
    venv = ROOT / ".venv"
    if Path(sys.prefix).resolve() == venv.resolve():
        return Finding(OK, "running in the workbook's .venv")
    return Finding(
        WARN,
        f"running {sys.executable}",
        f"not the workbook's environment ({venv})",
        ".venv/bin/python -m workbook doctor   (or: source .venv/bin/activate)",
    )


def check_versions(requirements: Path = REQUIREMENTS) -> list[Finding]:
    findings = []
    for name, wanted in pinned(requirements):
        try:
            found = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            findings.append(Finding(FAIL, f"{name} is not installed", f"requirements.txt pins {wanted}", FIX_INSTALL))
            continue
        if found != wanted:
            findings.append(Finding(FAIL, f"{name} {found}", f"requirements.txt pins {wanted}", FIX_INSTALL))
        else:
            findings.append(Finding(OK, f"{name} {found}"))
    return findings


def import_names(distributions: list[str]) -> dict[str, list[str]]:
    """distribution -> the top-level modules it installs (``scikit-learn`` -> ``sklearn``)."""
    provided: dict[str, list[str]] = {}
    for module, dists in importlib.metadata.packages_distributions().items():
        if module.startswith("_") or module in {"tests", "test", "pylab"}:
            continue
        for dist in dists:
            provided.setdefault(_normal(dist), []).append(module)
    return {dist: sorted(provided.get(_normal(dist), [])) for dist in distributions}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


IMPORT_PROBE = """
import importlib, json, sys
results = {}
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
        results[name] = ""
    except BaseException as exc:
        results[name] = f"{type(exc).__name__}: {exc}"
print(json.dumps(results))
"""


def check_imports(requirements: Path = REQUIREMENTS) -> list[Finding]:
    """Import every pinned package in a separate Python, so a broken one cannot take the doctor down."""
    installed = []
    for name, _ in pinned(requirements):
        try:
            importlib.metadata.version(name)
            installed.append(name)
        except importlib.metadata.PackageNotFoundError:
            pass  # already reported by check_versions
    modules = import_names(installed)
    names = sorted({m for ms in modules.values() for m in ms})
    try:
        done = subprocess.run(
            [sys.executable, "-c", IMPORT_PROBE, *names],
            capture_output=True,
            text=True,
            timeout=180,
            cwd=ROOT,
            env={**os.environ, "MPLBACKEND": "Agg"},
        )
        results = json.loads(done.stdout.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, ValueError, IndexError) as exc:
        return [Finding(FAIL, "importing the packages", f"the import check itself failed: {exc}", FIX_INSTALL)]
    broken = {name: error for name, error in results.items() if error}
    findings = [Finding(FAIL, f"import {name} fails", error[:300], FIX_INSTALL) for name, error in broken.items()]
    if not broken:
        findings.append(Finding(OK, f"{len(results)} packages import"))
    try:
        import workbook

        if Path(workbook.__file__).resolve().parent != (ROOT / "workbook").resolve():
            findings.append(
                Finding(
                    FAIL,
                    "the workbook package",
                    f"imported from {workbook.__file__}",
                    "rm -f .venv/.installed && make setup",
                )
            )
    except ImportError as exc:  # pragma: no cover - we are running inside it
        findings.append(Finding(FAIL, "the workbook package", str(exc), "rm -f .venv/.installed && make setup"))
    return findings


def notebook_kernels() -> set[str]:
    names = set()
    for path in NOTEBOOKS.glob("*.ipynb"):
        try:
            names.add(json.loads(path.read_text(encoding="utf-8"))["metadata"]["kernelspec"]["name"])
        except (ValueError, KeyError, OSError):
            continue
    return names or {"python3"}


def check_kernels() -> list[Finding]:
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    except ImportError as exc:
        return [Finding(FAIL, "Jupyter is not installed", str(exc), FIX_INSTALL)]
    findings = []
    manager = KernelSpecManager()
    for name in sorted(notebook_kernels()):
        try:
            spec = manager.get_kernel_spec(name)
        except NoSuchKernel:
            findings.append(
                Finding(
                    FAIL,
                    f"kernel {name!r} not found",
                    "the notebooks ask for it",
                    ".venv/bin/python -m ipykernel install --sys-prefix",
                )
            )
            continue
        # jupyter_client runs a spec whose program is plain "python" with the server's own Python.
        program = sys.executable if spec.argv[0] in {"python", "python3", "python3.11"} else spec.argv[0]
        try:
            done = subprocess.run(
                [program, "-c", "import sys, ipykernel, workbook; print(sys.version.split()[0])"],
                capture_output=True,
                text=True,
                timeout=60,
                cwd=NOTEBOOKS,
            )
            error = "" if done.returncode == 0 else (done.stderr.strip().splitlines() or ["exit code"])[-1]
            version = done.stdout.strip()
        except OSError as exc:
            error, version = str(exc), ""
        if error:
            findings.append(
                Finding(
                    FAIL,
                    f"kernel {name!r} ({program})",
                    f"cannot run the workbook: {error}",
                    f"remove {spec.resource_dir} if it is an old kernel, or: "
                    ".venv/bin/python -m ipykernel install --sys-prefix",
                )
            )
        elif not version.startswith("3.11"):
            findings.append(
                Finding(
                    FAIL,
                    f"kernel {name!r} runs Python {version}",
                    "the notebooks need 3.11",
                    f"remove {spec.resource_dir}, then: .venv/bin/python -m ipykernel install --sys-prefix",
                )
            )
        else:
            findings.append(Finding(OK, f"kernel {name!r}: Python {version} with the workbook"))
    return findings


def jupyter_port() -> int:
    """The default PORT of `make lab`, read from the Makefile so the two never disagree."""
    try:
        match = re.search(r"^PORT\s*\?=\s*(\d+)", (ROOT / "Makefile").read_text(), re.MULTILINE)
    except OSError:
        match = None
    return int(match.group(1)) if match else 8888


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def check_ports(ports: list[int] | None = None) -> list[Finding]:
    jupyter = jupyter_port()
    advice = {
        jupyter: f"stop the other server, or use another port: make lab PORT={jupyter + 1}",
        UVICORN_PORT: f"stop the other server, or: uvicorn … --port {UVICORN_PORT + 1}",
    }
    findings = []
    for port in ports or [jupyter, UVICORN_PORT]:
        if port_free(port):
            findings.append(Finding(OK, f"port {port} is free"))
        else:
            findings.append(
                Finding(
                    WARN,
                    f"port {port} is in use",
                    "something else is listening on it",
                    advice.get(port, f"stop what uses port {port}, or choose another port"),
                )
            )
    return findings


def check_layout() -> list[Finding]:
    from workbook import catalog

    findings = []
    try:
        labs = catalog.labs()
    except (OSError, ValueError, KeyError) as exc:
        return [Finding(FAIL, "the task catalog (checks/labN/lab.toml)", str(exc), "git checkout -- checks")]
    missing = [lab for lab in labs if not (LABS / lab).is_dir()]
    if missing:
        findings.append(
            Finding(
                FAIL,
                f"labs/ lacks {', '.join(missing)}",
                "your starters are missing",
                f"python -m workbook reset {missing[0]}",
            )
        )
    else:
        findings.append(Finding(OK, f"{len(labs)} labs with checks in {CHECKS.name}/ and starters in labs/"))
    if not (DATA / "newsgroups_mini.csv").is_file():
        findings.append(
            Finding(
                FAIL,
                "data/newsgroups_mini.csv is missing",
                "the labs train on it",
                "git checkout -- data   (or: python data/make_corpus.py)",
            )
        )
    if shutil.which("make") is None:
        findings.append(
            Finding(
                WARN,
                "make is not installed",
                "the README's commands use it",
                "install make (Debian/Ubuntu: sudo apt-get install make)",
            )
        )
    return findings


EMBEDDING_PROBE = """
import json, sys
from model2vec import StaticModel
model = StaticModel.from_pretrained(sys.argv[1])
vectors = model.encode(["the rocket reached orbit"])
print(json.dumps({"shape": list(vectors.shape), "words": len(model.tokenizer.get_vocab())}))
"""


def check_embedding_model(folder: Path = EMBEDDING_MODEL) -> Finding:
    """Lab 11's model: its files are there, and model2vec's own loader reads them and embeds a sentence.

    In a separate Python (a broken install cannot take the doctor down) with the Hugging Face hub switched
    off: a folder that model2vec could not read must fail here, not turn into a download attempt.
    """
    what = f"lab 11's embedding model ({folder.relative_to(ROOT) if folder.is_relative_to(ROOT) else folder})"
    missing = [name for name in EMBEDDING_FILES if not (folder / name).is_file()]
    if missing:
        detail = "the folder is missing" if not folder.is_dir() else f"{', '.join(missing)} missing"
        return Finding(FAIL, what, f"{detail}; lab 11 loads it at start-up", FIX_EMBEDDING_MODEL)
    offline = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    try:
        done = subprocess.run(
            [sys.executable, "-c", EMBEDDING_PROBE, str(folder)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
            env={**os.environ, **offline},
        )
    except subprocess.TimeoutExpired:
        return Finding(FAIL, what, "loading it with model2vec took over 120 s", FIX_EMBEDDING_MODEL)
    if done.returncode != 0:
        error = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        fix = FIX_INSTALL if "No module named 'model2vec'" in error else FIX_EMBEDDING_MODEL
        return Finding(FAIL, what, f"model2vec cannot load it: {error[:300]}", fix)
    try:
        loaded = json.loads(done.stdout.strip().splitlines()[-1])
        rows, dim = loaded["shape"]
    except (ValueError, IndexError, KeyError, TypeError):
        return Finding(FAIL, what, f"the load check printed no result: {done.stdout[-300:]!r}", FIX_EMBEDDING_MODEL)
    if rows != 1 or dim < 1:
        return Finding(FAIL, what, f"encoding one sentence gave shape {loaded['shape']}", FIX_EMBEDDING_MODEL)
    return Finding(OK, f"{what} loads with model2vec, offline: {loaded['words']:,} words, {dim} dimensions")


def check_sandbox() -> Finding:
    """Instructors: can ``grade`` run submissions in its bubblewrap sandbox here? (Students never need it.)"""
    from workbook.isolation import sandbox

    why = sandbox.probe()
    if why is None:
        return Finding(OK, "grading sandbox (bubblewrap) works")
    return Finding(
        WARN,
        "grading sandbox unusable",
        f"{why}; `grade` refuses class submissions without it (instructors only; students can ignore this)",
        sandbox.INSTALL_HINT,
    )


def diagnose(ports: list[int] | None = None, requirements: Path = REQUIREMENTS) -> list[Finding]:
    return [
        check_python(),
        check_environment(),
        *check_versions(requirements),
        *check_imports(requirements),
        *check_kernels(),
        *check_ports(ports),
        *check_layout(),
        check_embedding_model(),
        check_sandbox(),
    ]


def render(findings: list[Finding], verbose: bool) -> str:
    lines = []
    for finding in findings:
        if finding.level == OK and not verbose:
            continue
        detail = f": {finding.detail}" if finding.detail else ""
        lines.append(f"{finding.level:<4}  {finding.what}{detail}")
        if finding.fix:
            lines.append(f"      fix: {finding.fix}")
    problems = [f for f in findings if f.level == FAIL]
    warnings = [f for f in findings if f.level == WARN]
    ok = len(findings) - len(problems) - len(warnings)
    lines.append(
        f"{ok} checks ok, {len(warnings)} warnings, {len(problems)} problems"
        + ("" if verbose else " (--verbose lists every check)")
    )
    if not problems:
        lines.append("Ready: make lab")
    return "\n".join(lines)


def add_command(commands) -> None:
    parser = commands.add_parser(
        "doctor",
        help="check that this machine is ready, and say how to fix what is not",
        description="Check Python, the versions pinned in requirements.txt, that the packages import, the "
        "notebooks' kernel, free ports, the workbook's folders and lab 11's embedding model. Exit code 1 when something "
        "must be fixed (warnings alone exit 0).",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="also list the checks that are fine")
    parser.add_argument(
        "--port",
        type=int,
        action="append",
        dest="ports",
        metavar="PORT",
        help="check this port instead of the usual ones (repeatable)",
    )
    parser.add_argument(
        "--requirements",
        type=Path,
        default=REQUIREMENTS,
        metavar="FILE",
        help="the pinned requirements to compare with (default: requirements.txt)",
    )
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    parser.set_defaults(run=run_command)


def run_command(args: argparse.Namespace) -> int:
    if not args.requirements.is_file():
        print(f"doctor: {args.requirements} does not exist", file=sys.stderr)
        return 2
    findings = diagnose(args.ports, args.requirements)
    if args.json:
        print(json.dumps([asdict(f) for f in findings], indent=2))
    else:
        print(render(findings, args.verbose))
    return 1 if any(f.level == FAIL for f in findings) else 0
