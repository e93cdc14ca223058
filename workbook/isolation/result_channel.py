"""The result channel: how a pytest process running checks tells the process that started it what happened.

Used by :mod:`workbook.isolation.lab_process` (and so by ``grade``, ``status`` and ``watch``), never by a student's own
``pytest checks/labN``. The parent opens two file descriptors before pytest starts and names them in the
environment variable ``WORKBOOK_RESULT_CHANNEL`` as ``"RESULT_FD:KEY_FD"``:

* ``KEY_FD``, a pipe holding a random key for this one run. This plugin is loaded with ``-p``, so it is
  imported before any student code can run; it reads the key, closes the pipe and removes the variable.
  The key is never in the environment, the command line or a file.
* ``RESULT_FD``, an unnamed temporary file. The plugin appends one line per event, signed with an HMAC of
  the key: the ``plan`` after collection, ``start`` when a check begins, its ``result`` when it ends, and
  ``finished`` at the end of the session. The parent reads the file once the process has ended and believes
  only lines with a valid signature, in sequence (:func:`read_records`).

A check's verdict does not come from pytest's reports, which code in the process can rewrite: the plugin
looks at the exception of every phase itself (a pass is a check whose setup, call and teardown all ran
without raising) and takes only the status word and message of a failure from the grader. Before each check
starts and after it ends (after teardown, so a check's own ``monkeypatch`` is undone by then) it verifies that
the machinery deciding the outcome — pytest's runner, pluggy, pytest-asyncio, pytest-timeout, asyncio, the
grader and this module — is unchanged since collection ended. A change makes that check, and every later one,
``tampered``.

This stops the ordinary ways of faking a grade. It cannot stop code that studies this module and reaches into
its memory (the signing object is in the process); only running student code under another user or in a
sandbox can. The threat model is written out in ``docs/grading-threat-model.md``.
"""

from __future__ import annotations

import hmac
import inspect
import json
import os
import sys
from dataclasses import dataclass, field
from types import FrameType

import pytest

from workbook.results import Status

ENV_VAR = "WORKBOOK_RESULT_CHANNEL"
KEY_BYTES = 32
DIGEST = "sha256"
TIMEOUT_PREFIX = "Timeout (>"  # how pytest-timeout's exception starts
SETUP_TIMEOUTS_TO_STOP = 2  # importing the code under test hung this many checks in a row: stop the run

# Where a pass or a failure is decided. Student code has no reason to replace anything in these modules.
WATCHED_MODULES = (
    "_pytest.runner",
    "_pytest.reports",
    "_pytest.python",
    "_pytest.fixtures",
    "_pytest.main",
    "_pytest.outcomes",
    "_pytest.skipping",
    "_pytest.nodes",
    "_pytest.config",
    "pluggy._callers",
    "pluggy._hooks",
    "pluggy._manager",
    "pluggy._result",
    "pytest_asyncio.plugin",
    "pytest_timeout",
    "asyncio.runners",
    "asyncio.base_events",
    "asyncio.events",
    "asyncio.tasks",
    "asyncio.futures",
    "time",
    "builtins",
    "hmac",
    "json",
    "os",
    "workbook.grader.plugin",
    "workbook.checkkit.student",
    __name__,
)
WATCHED_HOOKS = (
    "pytest_runtest_protocol",
    "pytest_runtest_setup",
    "pytest_runtest_call",
    "pytest_runtest_teardown",
    "pytest_runtest_makereport",
    "pytest_runtest_logreport",
    "pytest_runtest_logstart",
    "pytest_runtest_logfinish",
    "pytest_pyfunc_call",
    "pytest_fixture_setup",
    "pytest_report_teststatus",
)


# --- the parent's side ------------------------------------------------------------------------------


@dataclass
class Records:
    """What the parent could verify in a channel file."""

    records: list[dict] = field(default_factory=list)
    forged: int = 0  # lines whose signature is wrong: written by something other than this plugin
    replayed: int = 0  # correctly signed lines seen twice or out of order
    truncated: bool = False


def sign(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, body, DIGEST).hexdigest().encode("ascii")


def read_records(data: bytes, key: bytes, first_seq: int = 0) -> Records:
    """The records a run wrote, keeping only lines signed with ``key`` and in sequence from ``first_seq``."""
    found = Records()
    expected_seq = first_seq
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        mac, _, body = line.partition(b" ")
        if not hmac.compare_digest(mac, sign(key, body)):
            found.forged += 1
            continue
        record = json.loads(body)
        if record.get("seq") != expected_seq:
            # Only this plugin can sign, so a line out of order was copied: someone replayed it.
            found.replayed += 1
            continue
        expected_seq += 1
        found.records.append(record)
    return found


# --- the plugin, inside the pytest process ------------------------------------------------------------


class _Channel:
    def __init__(self, result_fd: int, key: bytes) -> None:
        self._fd = result_fd
        self._mac = hmac.new(key, digestmod=DIGEST)
        self._seq = 0

    def emit(self, kind: str, **fields) -> None:
        body = json.dumps(
            {"seq": self._seq, "kind": kind, **fields}, sort_keys=True, separators=(",", ":"), default=str
        ).encode("utf-8")
        mac = self._mac.copy()
        mac.update(body)
        line = mac.hexdigest().encode("ascii") + b" " + body + b"\n"
        self._seq += 1
        while line:
            written = os.write(self._fd, line)
            line = line[written:]


def _open_channel() -> _Channel | None:
    spec = os.environ.pop(ENV_VAR, None)
    if not spec:
        return None
    result_fd, key_fd = (int(part) for part in spec.split(":"))
    key = b""
    while len(key) < KEY_BYTES:
        chunk = os.read(key_fd, KEY_BYTES - len(key))
        if not chunk:
            break
        key += chunk
    os.close(key_fd)
    if len(key) != KEY_BYTES:
        raise RuntimeError(f"{ENV_VAR}: the key pipe held {len(key)} bytes, expected {KEY_BYTES}")
    os.set_inheritable(result_fd, False)  # processes a check starts do not get it
    return _Channel(result_fd, key)


def _fingerprint(config: pytest.Config) -> dict[str, int]:
    """Identity of every function and class in the watched modules, and of the runtest hook implementations."""
    seen: dict[str, int] = {}

    def add(name: str, value) -> None:
        if inspect.isfunction(value) or inspect.ismethod(value):
            seen[name] = id(value)
            seen[name + ".__code__"] = id(getattr(value, "__code__", None))
        elif (
            inspect.isclass(value)
            or inspect.isbuiltin(value)
            or isinstance(value, (staticmethod, classmethod, property))
        ):
            seen[name] = id(value)

    for module_name in WATCHED_MODULES:
        module = sys.modules.get(module_name)
        if module is None:
            continue
        seen[f"sys.modules[{module_name!r}]"] = id(module)
        for name, value in list(vars(module).items()):
            add(f"{module_name}.{name}", value)
            if inspect.isclass(value) and getattr(value, "__module__", None) == module_name:
                for attr, member in list(vars(value).items()):
                    add(f"{module_name}.{name}.{attr}", member)
    for hook_name in WATCHED_HOOKS:
        caller = getattr(config.hook, hook_name, None)
        for impl in caller.get_hookimpls() if caller else ():
            add(f"hook {hook_name} from {impl.plugin_name}", impl.function)
        seen[f"hook {hook_name} implementations"] = len(caller.get_hookimpls()) if caller else 0
    seen["sys.gettrace()"] = id(sys.gettrace())
    seen["sys.getprofile()"] = id(sys.getprofile())
    return seen


# Functions a timing check relies on: watched all through every check by a thread, so a patch that undoes itself
# before the check ends is seen too.
CLOCKS = (
    (
        "time",
        ("perf_counter", "perf_counter_ns", "monotonic", "monotonic_ns", "time", "time_ns", "sleep", "process_time"),
    ),
    (
        "asyncio",
        ("sleep", "gather", "wait_for", "wait", "create_task", "get_running_loop", "get_event_loop", "run", "timeout"),
    ),
    ("asyncio.base_events", ("BaseEventLoop",)),
)
CLOCK_METHODS = (
    (
        "asyncio.base_events",
        "BaseEventLoop",
        ("time", "call_at", "call_later", "run_until_complete", "run_forever", "_run_once"),
    ),
)
WATCH_EVERY = 0.002  # seconds between two looks of the watcher thread


def _clock_identities() -> dict[str, int]:
    seen: dict[str, int] = {}
    names: tuple[str, ...]
    for module_name, names in CLOCKS:
        module = sys.modules.get(module_name)
        if module is not None:
            for name in names:
                seen[f"{module_name}.{name}"] = id(getattr(module, name, None))
    for module_name, class_name, names in CLOCK_METHODS:
        cls = getattr(sys.modules.get(module_name), class_name, None)
        for name in names:
            seen[f"{module_name}.{class_name}.{name}"] = id(vars(cls).get(name)) if cls else 0
    return seen


class _ClockWatcher:
    """A thread that looks at the clock and asyncio functions every few milliseconds while a check runs."""

    def __init__(self) -> None:
        import threading

        self.baseline = _clock_identities()
        self.seen: set[str] = set()
        self.running = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, name="workbook-clock-watch", daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        import time as _time

        sleep = _time.sleep  # our own reference: a patched time.sleep does not stop the watch
        while not self.stop.is_set():
            if self.running.is_set():
                now = _clock_identities()
                for name, value in self.baseline.items():
                    if now.get(name) != value:
                        self.seen.add(name)
            sleep(WATCH_EVERY)

    def begin(self) -> None:
        self.seen = set()
        _WRITES.clear()
        _PATCHED_BY_CHECK.clear()
        self.running.set()

    def end(self) -> set[str]:
        self.running.clear()
        final = _clock_identities()  # and one last look
        self.seen.update(name for name, value in self.baseline.items() if final.get(name) != value)
        # A check may patch a clock itself (lab 2's checks make sleeps instant with monkeypatch): what only the
        # check replaced is no finding. An assignment by anything else is, even to a name the check patched.
        self.seen.difference_update(_PATCHED_BY_CHECK)
        self.seen.update(f"{name} (assigned)" for name in _WRITES)
        _PATCHED_BY_CHECK.clear()
        return set(self.seen)


_WRITES: list[str] = []  # assignments to watched clock/asyncio names, recorded as they happen
_PATCHED_BY_CHECK: set[str] = set()  # watched names the running check itself replaced
_ORIGINALS: dict[str, int] = {}  # "module.name" -> id of the original object, taken when the recording starts


def _assigned_by_a_check() -> bool:
    """Whether the assignment now under way comes from a check in the kit's ``checks/``.

    The nearest frame outside the standard library, site-packages, pytest's own modules and the checks' helpers
    (``workbook/checkkit/``, which patch on a check's behalf) decides: a check (or a fixture in ``checks/``) that
    called ``monkeypatch.setattr``, itself or through a helper. Anything else (the code under test, also when it
    calls a helper; a thread with no such frame) counts as the code under test.
    """
    from workbook.paths import CHECKS, ROOT

    library = tuple(
        p
        for p in {
            os.path.dirname(os.__file__),
            os.path.dirname(pytest.__file__),
            os.path.dirname(os.path.dirname(pytest.__file__)),
        }
        if p
    )
    helpers = os.path.join(os.path.realpath(ROOT / "workbook" / "checkkit"), "")
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        real = "" if filename.startswith("<") or filename.startswith(library) else os.path.realpath(filename)
        if real and not real.startswith(helpers):
            # The file name alone can be made up (compile() takes any): the frame must also run in the namespace
            # of a module that was really loaded from that file in checks/.
            module = sys.modules.get(frame.f_globals.get("__name__", ""))
            loaded_from = os.path.realpath(getattr(module, "__file__", None) or "/")
            return (
                real.startswith(os.path.realpath(CHECKS) + os.sep)
                and real == loaded_from
                and getattr(module, "__dict__", None) is frame.f_globals
            )
        frame = frame.f_back
    return False


def _record_writes() -> None:
    """Make the clock and asyncio modules report every assignment to a watched name, however brief.

    A patch installed and undone within microseconds (a fake ``time.perf_counter`` that restores itself on its
    first call) escapes any sampling; an assignment to the module goes through its class's ``__setattr__``.
    """
    import importlib
    import types

    watched = {module: set(names) for module, names in CLOCKS}

    class _RecordingModule(types.ModuleType):
        def __setattr__(self, name, value):
            if name == "__class__":
                _WRITES.append(f"{self.__name__}.{name}")
            elif name in watched.get(self.__name__, ()):
                key = f"{self.__name__}.{name}"
                if id(value) == _ORIGINALS.get(key):
                    pass  # the original put back (a check's monkeypatch undoing itself)
                elif _assigned_by_a_check():
                    _PATCHED_BY_CHECK.add(key)
                else:
                    _WRITES.append(key)
            super().__setattr__(name, value)

        def __delattr__(self, name):
            if name in watched.get(self.__name__, ()):
                _WRITES.append(f"{self.__name__}.{name}")
            super().__delattr__(name)

        def __reduce__(self):
            # Pickled by name, as pickle and cloudpickle do with a plain module: lab 12's Ray Serve deployment
            # pickles a class whose code refers to the time and asyncio modules.
            return importlib.import_module, (self.__name__,)

    for module_name in watched:
        module = sys.modules.get(module_name)
        if module is not None and type(module) is types.ModuleType:
            _ORIGINALS.update(
                {f"{module_name}.{name}": id(getattr(module, name, None)) for name in watched[module_name]}
            )
            module.__class__ = _RecordingModule


def _item_identities(item) -> dict[str, object]:
    """What decides a check's verdict besides the watched modules: its runtest, function, fixtures, module."""
    seen: dict[str, object] = {
        "runtest": id(type(item).runtest),
        "runtest (on the item)": "runtest" in vars(item),
        "function": id(getattr(item, "obj", None)),
    }
    function = getattr(item, "obj", None)
    seen["function.__code__"] = id(getattr(function, "__code__", None))
    info = getattr(item, "_fixtureinfo", None)
    for name, defs in (getattr(info, "name2fixturedefs", {}) or {}).items():
        for n, fixturedef in enumerate(defs):
            func = getattr(fixturedef, "func", None)
            seen[f"fixture {name}[{n}]"] = id(func)
            seen[f"fixture {name}[{n}].__code__"] = id(getattr(func, "__code__", None))
    module = getattr(item, "module", None)
    for holder in [
        module,
        *(sys.modules.get(m) for m in list(sys.modules) if m.startswith("checks.") or m.endswith("conftest")),
    ]:
        if holder is None or not getattr(holder, "__file__", None):
            continue
        if "checks" not in str(holder.__file__).replace("\\", "/").split("/") and holder is not module:
            continue
        for name, value in list(vars(holder).items()):
            if callable(value) or isinstance(value, (int, float, str, bytes, bool, tuple, frozenset, type(None))):
                seen[f"{holder.__name__}.{name}"] = id(value)
                code = getattr(value, "__code__", None)
                if code is not None:
                    seen[f"{holder.__name__}.{name}.__code__"] = id(code)
    return seen


class ResultChannelPlugin:
    def __init__(self, channel: _Channel) -> None:
        self.channel = channel
        self.config: pytest.Config | None = None
        self.planned: dict[str, dict] = {}
        self.phases: dict[str, dict[str, bool]] = {}
        self.baseline: dict[str, int] | None = None
        self.tampered: list[str] = []
        self.setup_timeouts = 0  # checks in a row whose set-up (the import of the code under test) timed out
        self.session: pytest.Session | None = None
        self.items: dict[str, dict[str, object]] = {}  # nodeid -> identities at collection
        self.item_objects: dict[str, pytest.Item] = {}
        self.watcher: _ClockWatcher | None = None

    # The plan: which checks exist, what each is worth.
    def pytest_configure(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.session, self.config = session, session.config
        for item in session.items:
            marker = item.get_closest_marker("task")
            if marker is None:
                continue
            timeout = item.get_closest_marker("timeout")
            self.planned[item.nodeid] = {
                "nodeid": item.nodeid,
                "name": item.name,
                "task": str(marker.args[0]),
                "points": float(marker.kwargs.get("points", 1)),
                "timeout": float(timeout.args[0]) if timeout and timeout.args else None,
            }
        import workbook

        self.channel.emit(
            "plan", checks=list(self.planned.values()), workbook=os.path.dirname(os.path.abspath(workbook.__file__))
        )
        # Nothing of the student's has been imported yet: this is what the machinery looks like untouched.
        self.baseline = _fingerprint(session.config)
        for item in session.items:
            if item.nodeid in self.planned:
                self.item_objects[item.nodeid] = item
                self.items[item.nodeid] = _item_identities(item)
        self.watcher = _ClockWatcher()
        _record_writes()

    def _verify(self) -> None:
        if self.baseline is None or self.config is None or self.tampered:  # the config comes with the baseline
            return
        now = _fingerprint(self.config)
        changed = sorted(name for name in self.baseline.keys() | now.keys() if self.baseline.get(name) != now.get(name))
        if changed:
            self.tampered = changed
            self.channel.emit("tamper", changed=changed[:20])

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        if nodeid in self.planned:
            self._verify()
            self.channel.emit("start", nodeid=nodeid)
            if self.watcher is not None:
                self.watcher.begin()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        if item.nodeid in self.planned:
            self.phases.setdefault(item.nodeid, {})[call.when] = call.excinfo is None
            if call.when == "setup":
                timed_out = call.excinfo is not None and str(call.excinfo.value).startswith(TIMEOUT_PREFIX)
                self.setup_timeouts = self.setup_timeouts + 1 if timed_out else 0
        return (yield)

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        if nodeid not in self.planned:
            return
        self._verify()
        review = self._review(nodeid)
        plan = self.planned[nodeid]
        phases = self.phases.pop(nodeid, {})
        clean = phases.get("call") is True and all(phases.values())
        status, message, duration = self._grader_says(nodeid)
        if self.tampered:
            status = Status.TAMPERED
            message = (
                "the grading machinery was changed while the checks ran ("
                + ", ".join(self.tampered[:5])
                + "): no later check can be trusted"
            )
        elif clean:
            if status is None:
                status = Status.PASS
        elif status in (None, Status.PASS):
            failed = next((when for when, ok in phases.items() if not ok), "setup")
            status, message = Status.FAIL, f"the check raised during its {failed}"
        if review and not self.tampered:
            status, message = (
                Status.REVIEW,
                (
                    "changed while this check ran, by the code under test: "
                    + ", ".join(review[:6])
                    + " — the instructor decides"
                ),
            )
        self.channel.emit(
            "result",
            nodeid=nodeid,
            status=status,
            message=message or "",
            points=plan["points"] if status == Status.PASS else 0.0,
            max_points=plan["points"],
            duration=duration,
        )
        if self.setup_timeouts >= SETUP_TIMEOUTS_TO_STOP and self.session is not None:
            # The code under test hangs when it is imported: every later check would wait out its own
            # timeout in the same place. Stop here; the checks not run count as timed out.
            reason = (
                f"importing the code under test timed out in {self.setup_timeouts} checks in a row, "
                "so the remaining checks were not run"
            )
            self.channel.emit("stopping", reason=reason)
            self.session.shouldstop = reason

    def _review(self, nodeid: str) -> list[str]:
        """What changed, since collection, of what decides this check's verdict (taken when its result is)."""
        changed = []
        if self.watcher is not None:
            changed += sorted(self.watcher.end())
        item = self.item_objects.get(nodeid)
        if item is not None:
            now, before = _item_identities(item), self.items[nodeid]
            changed += sorted(name for name in before if now.get(name) != before[name])
        if changed:
            self.channel.emit("review", nodeid=nodeid, changed=changed[:20])
        return changed

    def _grader_says(self, nodeid: str) -> tuple[str | None, str, float]:
        """The grader's status word and message for a check (None when it recorded nothing)."""
        grader = sys.modules.get("workbook.grader.plugin")
        assert self.config is not None  # set by pytest_configure, before any check runs
        state = self.config.stash.get(grader.STATE, None) if grader else None
        result = state.results.get(nodeid) if state else None
        if result is None:
            return None, "", 0.0
        return result.status, result.message, result.duration

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus) -> None:
        self._verify()
        self.channel.emit("finished", exitstatus=int(exitstatus))


def _forget_other_workbooks() -> None:
    """Drop ``sys.path`` entries that lead to another copy of the workbook than this one.

    The venv's ``.pth`` puts the instructor's workbook on every Python's path; in a grading run, where this module
    is the kit's copy, that entry would let code under test ``import solutions.lab3.persistence`` by name.
    """
    kit = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # kit/workbook/isolation/

    def another_workbook(entry: str) -> bool:
        return os.path.abspath(entry or ".") != kit and os.path.isdir(os.path.join(entry or ".", "solutions"))

    sys.path[:] = [entry for entry in sys.path if not another_workbook(entry)]


_CHANNEL = _open_channel()  # at import: before any student code can run in this process
if _CHANNEL is not None:
    _forget_other_workbooks()


def pytest_configure(config: pytest.Config) -> None:
    if _CHANNEL is not None and not config.pluginmanager.has_plugin("workbook-result-channel"):
        config.pluginmanager.register(ResultChannelPlugin(_CHANNEL), "workbook-result-channel")
