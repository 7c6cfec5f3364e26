"""Fixtures of the browser tests: one JupyterLab server and one headless Chromium for the session.

JupyterLab serves a temporary copy of ``notebooks/`` (the tests run, edit and save notebooks;
the repository's files are never touched), on a free local port with token authentication,
in quick mode (``FOMM_TEACH_QUICK=1``), with its own settings, workspaces and IPython profile
(the profile's start-up file is ``figure_audit.py``). The browser is Debian's ``chromium``
(``/usr/bin/chromium``, or ``FOMM_TEACH_CHROMIUM``), driven by Playwright; nothing downloads a
browser. Both are shut down in ``finally`` blocks, so a failing test never leaves them running.

Screenshots of every state go to ``FOMM_TEACH_SCREENSHOTS`` (default: a new temporary folder);
the folder is printed at the end of the run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CHROMIUM = os.environ.get("FOMM_TEACH_CHROMIUM", "/usr/bin/chromium")
# JupyterLab's notebook panel is about 950 px wide beside an open file browser at this window size
# (the test of figure legibility measures the real width and checks it).
VIEWPORT = {"width": 1280, "height": 1500}

_screenshot_dir: Path | None = None


def screenshot_dir() -> Path:
    global _screenshot_dir
    if _screenshot_dir is None:
        chosen = os.environ.get("FOMM_TEACH_SCREENSHOTS")
        _screenshot_dir = Path(chosen) if chosen else Path(tempfile.mkdtemp(prefix="fomm-teach-browser-"))
        _screenshot_dir.mkdir(parents=True, exist_ok=True)
    return _screenshot_dir


# What the tests measured, for the summary at the end: {notebook: line}.
MEASURED: dict[str, str] = {}


def pytest_terminal_summary(terminalreporter):
    for name, line in sorted(MEASURED.items()):
        terminalreporter.write_line(f"{name}: {line}")
    if _screenshot_dir is not None:
        terminalreporter.write_line(f"browser test screenshots: {_screenshot_dir}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_server(url: str, token: str, process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            request = urllib.request.Request(f"{url}/api/status", headers={"Authorization": f"token {token}"})
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"JupyterLab did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


class Lab:
    """A running JupyterLab: its URL, token and the folder it serves."""

    def __init__(self, url: str, token: str, root: Path):
        self.url, self.token, self.root = url, token, root

    def api(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method,
                                         headers={"Authorization": f"token {self.token}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
            return json.loads(text) if text else None

    def shutdown_kernels(self, path: str | None = None) -> None:
        """Stop the kernels of every session (or of the session of notebook ``path``)."""
        for session in self.api("GET", "/api/sessions"):
            if path is None or session.get("path") == path:
                self.api("DELETE", f"/api/sessions/{session['id']}")


@pytest.fixture(scope="session")
def lab():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `apt-get install -y chromium fonts-noto-color-emoji` "
                    "(or set FOMM_TEACH_CHROMIUM)")
    work = Path(tempfile.mkdtemp(prefix="fomm-teach-lab-"))
    root = work / "course"
    shutil.copytree(ROOT / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns("*.py", ".ipynb_checkpoints"))
    startup = work / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    shutil.copy(HERE / "figure_audit.py", startup / "00-figure-audit.py")
    settings = work / "settings"
    notification = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    # Every cell stays in the page (no windowing), so each output can be measured and photographed.
    tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    port, token = _free_port(), os.urandom(16).hex()
    env = dict(os.environ, FOMM_TEACH_QUICK="1", IPYTHONDIR=str(work / "ipython"),
               JUPYTER_CONFIG_DIR=str(work / "config"), JUPYTERLAB_SETTINGS_DIR=str(settings),
               JUPYTERLAB_WORKSPACES_DIR=str(work / "workspaces"), JUPYTER_RUNTIME_DIR=str(work / "runtime"))
    env.pop("FOMM_TEACH_STRICT", None)   # learners' notebooks: a failed check falls back, it never raises
    log = work / "jupyterlab.log"
    with open(log, "w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
             f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.open_browser=False",
             "--LabApp.expose_app_in_browser=True"] + (["--allow-root"] if os.geteuid() == 0 else []),
            cwd=root, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_for_server(url, token, process, log)
        yield Lab(url, token, root)
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)   # the server and the kernels it started
            process.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


@pytest.fixture
def page(browser, lab):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        yield page
    finally:
        context.close()
        lab.shutdown_kernels()
