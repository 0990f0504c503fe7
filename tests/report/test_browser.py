"""report.html of a comparison and of a search in a real headless browser (Debian's
chromium, driven over the DevTools protocol): no console errors, every plot and the table
visible; a screenshot of each is saved in ``test-artifacts/``."""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lrkit.report import write_report

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def chromium() -> str:
    """The chromium binary; installed with apt-get when missing and running as root."""
    found = shutil.which("chromium") or (CHROMIUM if os.path.exists(CHROMIUM) else None)
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("chromium is missing and cannot be installed here (needs root and apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "chromium"]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
        done = subprocess.run(install, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"chromium could not be installed: {done.stderr.strip()[-300:]}")
    return CHROMIUM


class DevTools:
    """A minimal DevTools-protocol client for one page."""

    def __init__(self, url: str) -> None:
        import websocket

        # no Origin header: chromium refuses DevTools connections from an origin it was not
        # told to allow, and websocket-client sends one by default
        self.socket = websocket.create_connection(url, timeout=60, suppress_origin=True)
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self.ids)
        self.socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))
            self.events.append(message)

    def wait_for(self, event: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(e.get("method") == event for e in self.events):
                return
            self.events.append(json.loads(self.socket.recv()))
        raise AssertionError(f"no {event} within {timeout} s")

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def errors(self) -> list[str]:
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(json.dumps(params.get("args")))
            elif method == "Runtime.exceptionThrown":
                found.append(json.dumps(params.get("exceptionDetails")))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                found.append(params["entry"].get("text", ""))
        return found


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevTools]:
    """One chromium for the module; each test opens its page in it."""
    pytest.importorskip("websocket", reason="the browser test needs websocket-client")
    profile = tmp_path_factory.mktemp("chromium") / "profile"
    args = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--allow-file-access-from-files",
        f"--user-data-dir={profile}",
        "--remote-debugging-port=0",
        "about:blank",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            assert proc.poll() is None, "chromium exited at start"
            assert time.monotonic() < deadline, "chromium did not open its DevTools port"
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as reply:
            pages = [t for t in json.load(reply) if t["type"] == "page"]
        client = DevTools(pages[0]["webSocketDebuggerUrl"])
        yield client
        client.socket.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


CHECK = """((tableId, boxId) => {
  const visible = (el) => {
    el.scrollIntoView();
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    return box.width > 0 && box.height > 0 && style.display !== 'none'
      && style.visibility !== 'hidden' && Number(style.opacity) > 0;
  };
  const images = [...document.querySelectorAll('figure img')].map((img) => ({
    id: img.closest('figure').id, loaded: img.complete && img.naturalWidth > 0,
    visible: visible(img)}));
  const table = document.getElementById(tableId);
  window.scrollTo(0, 0);
  return {images, table: table ? {visible: visible(table), rows: table.rows.length,
          text: table.innerText} : null,
          box: document.getElementById(boxId).innerText,
          height: document.documentElement.scrollHeight};
})"""


def load(browser: DevTools, page: Path, table: str, box: str) -> dict[str, Any]:
    """Open ``page`` at 1280×900 and return what :data:`CHECK` sees of it."""
    browser.events.clear()
    for domain in ("Page", "Runtime", "Log"):
        browser.call(f"{domain}.enable")
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        width=1280,
        height=900,
        deviceScaleFactor=1,
        mobile=False,
    )
    browser.call("Page.navigate", url=page.resolve().as_uri())
    browser.wait_for("Page.loadEventFired")
    state: dict[str, Any] = browser.evaluate(f"{CHECK}({json.dumps(table)}, {json.dumps(box)})")
    return state


def screenshot(browser: DevTools, height: int, name: str) -> None:
    """The whole page, saved as ``test-artifacts/<name>``."""
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        width=1280,
        height=height,
        deviceScaleFactor=1,
        mobile=False,
    )
    shot = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / name
    target.write_bytes(base64.b64decode(shot["data"]))
    assert target.read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
def test_report_shows_every_plot_and_the_table_without_console_errors(
    browser: DevTools, tmp_path: Path, build_comparison: Callable[[Path], Path]
) -> None:
    directory = build_comparison(tmp_path / "comparison")
    page = write_report(directory)["report.html"]
    state = load(browser, page, "results-table", "verdict")
    assert [image["id"] for image in state["images"]] == ["plot-curves", "plot-lr", "plot-scores"]
    assert all(image["loaded"] and image["visible"] for image in state["images"]), state
    assert state["table"] is not None and state["table"]["visible"]
    assert state["table"]["rows"] == 1 + 4
    assert "adam 0.01" in state["table"]["text"]
    assert '<img src=x onerror="alert(1)"> & co' in state["table"]["text"]  # shown as text
    assert "won with a final validation accuracy" in state["box"]
    screenshot(browser, int(state["height"]), "compare_report.png")
    assert browser.errors() == []


def test_search_report_shows_both_plots_and_every_trial_without_console_errors(
    browser: DevTools, tmp_path: Path, build_search: Callable[[Path], Path]
) -> None:
    page = write_report(build_search(tmp_path / "search"))["report.html"]
    state = load(browser, page, "trials-table", "best")
    ids = [image["id"] for image in state["images"]]
    assert ids == ["plot-search_score_vs_lr", "plot-search_parallel"]
    assert all(image["loaded"] and image["visible"] for image in state["images"]), state
    assert state["table"] is not None and state["table"]["visible"]
    assert state["table"]["rows"] == 1 + 6
    assert "<script>boom</script> at lr 1" in state["table"]["text"]  # shown as text
    assert "Best learning rate 0.01 with optimizer <b>adam</b>: score 0.5" in state["box"]
    screenshot(browser, int(state["height"]), "search_report.png")
    assert browser.errors() == []
