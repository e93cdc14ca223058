"""The classroom, as a person sees it: JupyterLab started by the README's command serves the notebooks and the
lab files, a real browser shows a notebook, edits and saves a lab file, and shows a solution's /docs and /redoc —
with every request staying on this machine, and no "Jupyter news?" pop-up.

JupyterLab runs through ``make lab`` itself (the README's main command), with ``PORT=…`` and ``-o .venv/.installed``
(make must never reinstall the environment here), in a temporary copy of the repository (its ``.venv`` a link to
this one's): the browser edits ``labs/lab1/runners.py`` of that copy, so the repository's own file is never touched,
even when the test is interrupted. What a classroom machine would be asked interactively — no browser window, a
token — comes from a throwaway ``JUPYTER_CONFIG_DIR``, so the Makefile's recipe runs unchanged; the settings the
workbook ships (``.jupyter/``) apply under it as they do for a student.

The browser is Debian's Chromium (``/usr/bin/chromium``, installed by ``.ci/run``) driven by Playwright through
``executable_path``: Playwright's own browser download is never used. Without Chromium (or make) these tests are
skipped, saying so. Every request the pages make to another host is blocked and recorded, so a page that still
renders proves it needs no internet. Screenshots go to the test's tmp folder, or to ``$WORKBOOK_SCREENSHOTS``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
import pytest

from workbook.paths import NOTEBOOKS, ROOT, SOLUTIONS

pytestmark = pytest.mark.timeout(600)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NOTEBOOK = "notebooks/01_asyncio.ipynb"  # where `make lab` opens
NOTEBOOK_HEADING = "Lab 1 — asyncio"
LAB_FILE = "labs/lab1/runners.py"  # the first file an exercise says to open
SHOWN = {"notebooks", "labs", "checks", "data"}  # what a student works with, at the top of the file browser
HIDDEN = {"solutions", "workbook", ".venv", ".jupyter"}  # the answers, the tooling, the settings
NEWS = re.compile(
    "Jupyter news", re.IGNORECASE
)  # JupyterLab's "Would you like to get notified about official Jupyter news?"
# Everything of the repository but what is made at run time or is big and irrelevant to the server.
NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", ".pytest_cache", ".ipynb_checkpoints", "models", "cache", ".workbook", "*.egg-info"
)
STARTUP = 120.0  # seconds for a server to answer on a busy 2-core machine


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, log: Path, timeout: float = STARTUP) -> httpx2.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with code {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            response = httpx2.get(url, timeout=5)
            if response.status_code == 200:
                return response
        except httpx2.TransportError:
            pass
        time.sleep(0.5)
    pytest.fail(f"{url} did not answer within {timeout:g} s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@dataclass
class JupyterLab:
    base: str  # http://127.0.0.1:PORT
    token: str
    root: Path  # the copy of the repository it serves

    def url(self, path: str) -> str:
        return f"{self.base}{path}?token={self.token}"

    def get(self, path: str) -> httpx2.Response:
        return httpx2.get(f"{self.base}{path}", params={"token": self.token}, timeout=30)


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """`make lab` on a free port, in a temporary copy of the repository."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed; the README's `make lab` needs it")
    home = tmp_path_factory.mktemp("jupyter")
    root = home / "workbook"
    shutil.copytree(ROOT, root, ignore=NOT_COPIED, symlinks=True)
    (root / ".venv").symlink_to((ROOT / ".venv").resolve())
    token = secrets.token_hex(16)
    config = home / "config"
    config.mkdir()
    (config / "jupyter_server_config.json").write_text(
        json.dumps(
            {
                # allow_root: CI machines run as root, which JupyterLab refuses unless told (students are not root).
                "ServerApp": {"open_browser": False, "ip": "127.0.0.1", "allow_root": os.geteuid() == 0},
                "IdentityProvider": {"token": token},
            }
        )
    )
    port = free_port()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "IPYTHONDIR": str(home / "ipython"),
        "WORKBOOK_TARGET": "solutions",
    }
    env.pop("JUPYTER_CONFIG_PATH", None)
    log = home / "jupyter.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            ["make", "-o", ".venv/.installed", "lab", f"PORT={port}"],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/api/status?token={token}", process, log)
        yield JupyterLab(base, token, root)
    finally:
        stop(process)


@pytest.fixture(scope="module")
def docs_server(tmp_path_factory):
    """uvicorn serving the reference lab 2 app, as the README shows: yields its base URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("uvicorn") / "uvicorn.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "lab2.app:app",
                "--app-dir",
                str(SOLUTIONS),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/openapi.json", process, log)
        yield base
    finally:
        stop(process)


def test_jupyterlab_serves_the_notebooks(jupyterlab):
    listing = jupyterlab.get("/api/contents/notebooks").json()
    served = {item["name"] for item in listing["content"]}
    expected = {path.name for path in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}
    assert expected <= served, f"JupyterLab serves {sorted(served)}, missing {sorted(expected - served)}"
    notebook = jupyterlab.get(f"/api/contents/{NOTEBOOK}").json()
    assert notebook["type"] == "notebook" and notebook["content"]["cells"], notebook.get("message")
    kernels = jupyterlab.get("/api/kernelspecs").json()
    assert "python3" in kernels["kernelspecs"], f"no python3 kernel: {sorted(kernels['kernelspecs'])}"
    page = jupyterlab.get(f"/lab/tree/{NOTEBOOK}")
    assert page.status_code == 200 and "jupyter" in page.text.lower()


def test_jupyterlab_serves_the_whole_workbook_and_opens_on_the_first_notebook(jupyterlab):
    top = {item["name"] for item in jupyterlab.get("/api/contents/").json()["content"]}
    assert SHOWN <= top, f"the file browser shows {sorted(top)}, missing {sorted(SHOWN - top)}"
    assert not top & HIDDEN, f"the file browser lists {sorted(top & HIDDEN)}, which .jupyter/ should hide"
    lab_file = jupyterlab.get(f"/api/contents/{LAB_FILE}").json()
    assert lab_file.get("type") == "file" and "async def" in lab_file["content"], lab_file.get("message")
    assert "tests" in {item["name"] for item in jupyterlab.get("/api/contents/labs/lab10").json()["content"]}
    # The notebooks' relative paths: `../checks/labN` from notebooks/.
    assert jupyterlab.get("/api/contents/checks/lab1/lab.toml").status_code == 200
    # Plain `/` lands on the first notebook (so does the URL `make lab` prints and opens).
    landing = httpx2.get(f"{jupyterlab.base}/", params={"token": jupyterlab.token}, timeout=30, follow_redirects=False)
    assert landing.status_code in (301, 302) and landing.headers["location"].startswith(f"/lab/tree/{NOTEBOOK}"), (
        landing.status_code,
        landing.headers.get("location"),
    )


@pytest.mark.parametrize("path", ["checks/lab1/lab.toml", "data/new-file.txt"])
def test_checks_and_data_are_for_reading_only(jupyterlab, path):
    """Saving into checks/ or data/ from JupyterLab is refused with a message (workbook/jupyter_settings.py)."""
    on_disk = jupyterlab.root / path
    before = on_disk.read_bytes() if on_disk.exists() else None
    response = httpx2.put(
        f"{jupyterlab.base}/api/contents/{path}",
        timeout=30,
        headers={"Authorization": f"token {jupyterlab.token}"},
        json={"type": "file", "format": "text", "content": "changed from the browser\n"},
    )
    assert response.status_code == 403, (response.status_code, response.text[:300])
    assert "is there to read" in response.json()["message"] and "labs/" in response.json()["message"]
    assert (on_disk.read_bytes() if on_disk.exists() else None) == before, f"{path} changed on disk"


def test_jupyterlab_ships_with_the_news_switched_off(jupyterlab):
    schema = jupyterlab.get("/lab/api/settings/@jupyterlab/apputils-extension:notification").json()["schema"]
    defaults = {name: schema["properties"][name]["default"] for name in ("fetchNews", "checkForUpdates")}
    assert defaults == {"fetchNews": "false", "checkForUpdates": False}, (
        f"JupyterLab's notification defaults are {defaults}: .jupyter/lab/settings/overrides.json was not applied"
    )


# --- a real browser -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A Playwright page factory on Debian's Chromium, blocking (and recording) requests to other hosts."""
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM}: apt-get install chromium (.ci/run does)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements.txt)")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        blocked: list[str] = []

        def only_this_machine(route):
            if urlsplit(route.request.url).hostname in {"127.0.0.1", "localhost"}:
                route.continue_()
            else:
                blocked.append(route.request.url)
                route.abort()

        context.route("**/*", only_this_machine)
        context.blocked = blocked
        yield context
        context.close()


@pytest.fixture
def screenshots(tmp_path) -> Path:
    folder = Path(os.environ.get("WORKBOOK_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def shoot(page, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    assert path.stat().st_size > 10_000, f"{path} is nearly empty: the page did not render"
    return path


def assert_no_news_pop_up(page, folder: Path, name: str) -> None:
    """JupyterLab asks about "official Jupyter news" once it has restored; by now it would have."""
    page.wait_for_timeout(2_000)
    shown = page.get_by_text(NEWS)
    if shown.count():
        shoot(page, folder, name)
    assert shown.count() == 0, f"JupyterLab showed the news pop-up: {shown.first.inner_text()!r} (see {folder})"


def test_browser_shows_a_notebook(jupyterlab, browser, screenshots):
    page = browser.new_page()
    already_blocked = len(browser.blocked)
    page.goto(jupyterlab.url(f"/lab/tree/{NOTEBOOK}"), timeout=STARTUP * 1000)
    heading = page.get_by_role("heading", name=re.compile(re.escape(NOTEBOOK_HEADING)))
    heading.first.wait_for(state="visible", timeout=STARTUP * 1000)
    page.get_by_text("from workbook import use_target").first.wait_for(state="visible", timeout=60_000)
    shoot(page, screenshots, "jupyterlab-notebook")
    assert_no_news_pop_up(page, screenshots, "jupyterlab-notebook-news")
    page.close()
    left = browser.blocked[already_blocked:]
    assert not left, f"JupyterLab made the browser ask other hosts (blocked): {left[:5]}"


def test_browser_edits_and_saves_a_lab_file(jupyterlab, browser, screenshots):
    """A student opens labs/lab1/runners.py from the browser, changes its first line and saves with Ctrl+S."""
    on_disk = jupyterlab.root / LAB_FILE
    repository_file = (ROOT / LAB_FILE).read_bytes()
    before = on_disk.read_text(encoding="utf-8")
    first, *rest = before.splitlines()
    added = f" (edited in JupyterLab {secrets.token_hex(3)})"
    page = browser.new_page()
    already_blocked = len(browser.blocked)
    page.goto(jupyterlab.url(f"/lab/tree/{LAB_FILE}"), timeout=STARTUP * 1000)
    line = page.locator(".jp-FileEditor .cm-content .cm-line").first
    line.wait_for(state="visible", timeout=STARTUP * 1000)
    page.locator(".jp-FileEditor .cm-content").get_by_text("sequential and concurrent waiting").first.wait_for(
        state="visible", timeout=60_000
    )
    line.click()
    page.keyboard.press("End")
    page.keyboard.type(added)
    page.locator(".jp-FileEditor .cm-content").get_by_text(added.strip()).first.wait_for(
        state="visible", timeout=60_000
    )
    # On a busy machine the first Ctrl+S can come before JupyterLab has bound its shortcuts: press it again every
    # 10 s until the file changes (saving twice is harmless).
    deadline = time.monotonic() + STARTUP
    while on_disk.read_text(encoding="utf-8") == before and time.monotonic() < deadline:
        page.keyboard.press("Control+s")
        pressed = time.monotonic()
        while on_disk.read_text(encoding="utf-8") == before and time.monotonic() < pressed + 10:
            time.sleep(0.25)
    shoot(page, screenshots, "jupyterlab-lab-file-saved")
    after = on_disk.read_text(encoding="utf-8")
    assert after != before, f"Ctrl+S in JupyterLab's editor did not change {on_disk} within {STARTUP:g} s"
    assert after.splitlines() == [first + added, *rest], (
        "the saved file differs from the original in more than the first line:\n" + after[:500]
    )
    assert_no_news_pop_up(page, screenshots, "jupyterlab-lab-file-news")
    page.close()
    assert (ROOT / LAB_FILE).read_bytes() == repository_file, f"the repository's {LAB_FILE} changed"
    left = browser.blocked[already_blocked:]
    assert not left, f"JupyterLab made the browser ask other hosts (blocked): {left[:5]}"


# ReDoc's bundle would load the "API docs by Redocly" logo from its CDN; the Content-Security-Policy that
# labkit/docs.py puts on the doc pages keeps the browser from even asking, so no request may leave.


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_browser_shows_the_docs_offline(docs_server, browser, screenshots, path):
    page = browser.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    already_blocked = len(browser.blocked)
    page.goto(f"{docs_server}{path}", timeout=60_000)
    page.get_by_text("Lab 2 — the event loop").first.wait_for(state="visible", timeout=60_000)
    page.get_by_text("/slow-fixed").first.wait_for(state="visible", timeout=60_000)
    page.wait_for_load_state("networkidle", timeout=30_000)
    shoot(page, screenshots, f"lab2{path.replace('/', '-')}")
    page.close()
    assert any(urlsplit(url).path.endswith(".js") for url in requests), f"{path} loaded no script: {requests}"
    left_the_machine = browser.blocked[already_blocked:]
    assert not left_the_machine, f"{path} made the browser ask other hosts (blocked): {left_the_machine}"
