"""The HTML report in a real headless Chromium (Debian's ``chromium`` package).

The browser is driven over the Chrome DevTools Protocol on ``--remote-debugging-pipe`` (file
descriptors 3 and 4, NUL-separated JSON), so no extra Python package is needed. Checked: the page
loads without a console error, an exception or a CSP violation; every chart draws the expected
number of points; a click on a trace id opens the trace; hostile strings stay text; a narrow
window has no horizontal scroll; the page prints to PDF; screenshots are taken.

Skipped, with the reason, when no Chromium is installed (``apt-get install chromium``), unless
``DEVTELEMETRY_REQUIRE_CHROMIUM=1`` (CI), which makes a missing browser a failure. Set
``DEVTELEMETRY_CHROMIUM`` to use another binary. Regenerate the README picture with
``python tests/render/test_html_report_browser.py docs/report.png``.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))  # tests/, for fakes/ when run as a script
sys.path.insert(0, str(Path(__file__).parent))
from test_html_report import HOSTILE_AGENT, HOSTILE_FUNCTION, HOSTILE_MESSAGE, NOW, demo_db, demo_events

from dev_system.analysis.alerts import Thresholds
from dev_system.analysis.periods import Window, parse_period
from dev_system.render.html.page import collect_report, write_html_report
from dev_system.store import db as store
from dev_system.store.queries import Filters
from fakes.eventgen import write_events


def find_chromium() -> str | None:
    """The Chromium binary: ``$DEVTELEMETRY_CHROMIUM``, else ``chromium`` (Debian) or its other names."""
    explicit = os.environ.get("DEVTELEMETRY_CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


CHROMIUM = find_chromium()
#: CI sets ``DEVTELEMETRY_REQUIRE_CHROMIUM=1`` so that a missing browser fails instead of skipping.
REQUIRED = os.environ.get("DEVTELEMETRY_REQUIRE_CHROMIUM", "") not in ("", "0")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not REQUIRED,
    reason="needs a headless Chromium: install Debian's package (apt-get install -y chromium) "
           "or set DEVTELEMETRY_CHROMIUM to a Chromium binary",
)

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
         "--remote-debugging-pipe")


class CDPError(RuntimeError):
    """The browser answered a command with an error, or did not answer in time."""


class Browser:
    """A headless Chromium and one page of it, driven over the DevTools pipe."""

    def __init__(self, binary: str, *, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="chromium-profile-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire() -> None:  # in the child: its fd 3 reads our commands, its fd 4 writes the answers
            a = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)
            os.close(a)
            os.close(b)

        self.proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=wire, close_fds=False,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._next = 0
        self.page_start = 0
        self._answers: dict[int, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._stderr: list[bytes] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self._stderr.extend(self.proc.stderr), daemon=True).start()
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def _read(self) -> None:
        buffer = b""
        with os.fdopen(self._from_browser, "rb", buffering=0) as pipe:
            while True:
                chunk = pipe.read(1 << 16)
                if not chunk:
                    break
                buffer += chunk
                while b"\0" in buffer:
                    raw, buffer = buffer.split(b"\0", 1)
                    message = json.loads(raw)
                    with self._cond:
                        if "id" in message:
                            self._answers[message["id"]] = message
                        else:
                            self.events.append(message)
                        self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def send(self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None) -> dict[str, Any]:
        """Send one command and wait for its answer."""
        with self._cond:
            self._next += 1
            ident = self._next
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        with self._cond:
            while ident not in self._answers:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise CDPError(f"no answer to {method} (browser {'exited' if self.proc.poll() is not None else 'silent'};"
                                   f" stderr: {b''.join(self._stderr)[-2000:].decode(errors='replace')})")
                self._cond.wait(min(left, 0.5))
            answer = self._answers.pop(ident)
        if "error" in answer:
            raise CDPError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """A command to the page."""
        return self.send(method, params, session=self.session)

    def wait_event(self, method: str, since: int = 0) -> dict[str, Any]:
        """The first event ``method`` of the page received after the ``since``-th event."""
        deadline = time.monotonic() + self.timeout
        with self._cond:
            while True:
                for message in self.events[since:]:
                    if message.get("method") == method and message.get("sessionId") == self.session:
                        return message
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CDPError(f"no {method} event")
                self._cond.wait(min(left, 0.5))

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (awaited when it is a promise)."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in result:
            raise CDPError(f"{expression!r} raised: {result['exceptionDetails']}")
        return result["result"].get("value")

    def viewport(self, width: int, height: int, *, mobile: bool = False) -> None:
        self.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                                                         "deviceScaleFactor": 1, "mobile": mobile})

    def open(self, path: Path) -> None:
        """Load a file and wait until the page script has drawn everything."""
        since = self.page_start = len(self.events)
        answer = self.call("Page.navigate", {"url": path.resolve().as_uri()})
        if answer.get("errorText"):
            raise CDPError(f"cannot open {path}: {answer['errorText']}")
        self.wait_event("Page.loadEventFired", since)
        deadline = time.monotonic() + self.timeout
        while self.evaluate("document.body && document.body.getAttribute('data-ready')") != "1":
            if time.monotonic() > deadline:
                raise CDPError("the page never became ready")
            time.sleep(0.05)

    def click(self, selector: str) -> None:
        """A real mouse click (pressed and released) in the middle of the element."""
        box = self.evaluate(f"""(() => {{
            const e = document.querySelector({json.dumps(selector)});
            e.scrollIntoView({{block: "center"}});
            const r = e.getBoundingClientRect();
            return {{x: r.left + r.width / 2, y: r.top + r.height / 2}};
        }})()""")
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", {"type": kind, "x": box["x"], "y": box["y"], "button": "left",
                                                   "clickCount": 1})

    def screenshot(self, path: Path, *, full: bool = True, height: int | None = None) -> Path:
        """A PNG of the page (whole length with ``full``, else the top ``height`` pixels)."""
        metrics = self.call("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        width = self.evaluate("window.innerWidth")
        clip_height = size["height"] if full else min(size["height"], height or 900)
        shot = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                                    "clip": {"x": 0, "y": 0, "width": width,
                                                             "height": clip_height, "scale": 1}})
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def problems(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions, CSP violations, failed loads and dialogs
        since the page was opened."""
        found = []
        for message in self.events[self.page_start:]:
            method, params = message.get("method"), message.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                found.append(f"exception: {details.get('exception', {}).get('description') or details.get('text')}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert", "warning"):
                found.append(f"console.{params['type']}: " + " ".join(str(a.get("value", a.get("description")))
                                                                     for a in params.get("args", [])))
            elif method == "Log.entryAdded" and params["entry"].get("level") in ("error", "warning"):
                found.append(f"log {params['entry']['level']}: {params['entry'].get('text')}")
            elif method == "Page.javascriptDialogOpening":
                found.append(f"dialog: {params.get('message')}")
        return found

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (CDPError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        try:
            os.close(self._to_browser)
        except OSError:
            pass
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.fail("DEVTELEMETRY_REQUIRE_CHROMIUM is set but no Chromium was found: apt-get install -y chromium, "
                    "or set DEVTELEMETRY_CHROMIUM", pytrace=False)
    instance = Browser(CHROMIUM)
    try:
        yield instance
    finally:
        instance.close()


@pytest.fixture(scope="module")
def period_page(tmp_path_factory):
    """The report of 30 days of a busy project (20,000 events, a nested trace, hostile names)."""
    folder = tmp_path_factory.mktemp("html")
    db = demo_db(folder / "t.db", 20_000)
    with store.connect(db, readonly=True) as conn:
        data = collect_report(conn, parse_period("30d", now=NOW), now=NOW, source=str(db))
    return write_html_report(folder / "report.html", data), data


#: The scores of the two runs of the run page: (run, seconds before NOW, test, name, value).
RUN_SCORES = [
    ("run-base", 7100.0, "test_answer", "correctness", 0.9), ("run-base", 7090.0, "test_plan", "correctness", 1.0),
    ("run-now", 590.0, "test_answer", "correctness", 0.8), ("run-now", 580.0, "test_answer", "correctness", 0.6),
    ("run-now", 570.0, "test_plan", "correctness", 0.9), ("run-now", 560.0, "test_plan", "tone", 0.5),
]


@pytest.fixture(scope="module")
def run_page(tmp_path_factory):
    """The report of one pytest run against its baseline."""
    folder = tmp_path_factory.mktemp("html-run")
    db = demo_db(folder / "t.db", 500, runs=True)
    with sqlite3.connect(db) as conn:
        conn.executemany("INSERT INTO scores (score_id, timestamp, run_id, nodeid, trace_id, name, value)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?)",
                         [(f"s{i}", NOW - age, run_id, f"tests/test_agent.py::{test}", None, name, value)
                          for i, (run_id, age, test, name, value) in enumerate(RUN_SCORES)])
    with store.connect(db, readonly=True) as conn:
        data = collect_report(conn, Window(label="Run run-now"), Filters(run_id="run-now"), cost_scope="total",
                              run_id="run-now", baseline_run_id="run-base", now=NOW)
    return write_html_report(folder / "run.html", data), data


def expected_points(data: dict[str, Any]) -> dict[str, list[int]]:
    """The number of points each chart must draw, per dataset, from the embedded data."""
    s, th = data["series"], data["thresholds"]
    n = len(s["labels"])
    out: dict[str, list[int]] = {}
    if n:
        out["cost"] = [n] * len(s["agents"])
        out["calls"] = [n] * len(s["agents"])
        out["latency"] = [n, n] + ([n] if th["p95_latency_ms_max"] is not None else [])
        out["success"] = [n] + ([n] if th["success_rate_min"] is not None else [])
    if data["errors"]["labels"]:
        out["errors"] = [len(data["errors"]["labels"])]
    run = data["run"]
    if run:
        if run["expensive"]["labels"]:
            out["expensive-tests"] = [len(run["expensive"]["labels"])]
        if run["slowest"]["labels"]:
            out["slowest-tests"] = [len(run["slowest"]["labels"])]
        if run["baseline"]:
            out["baseline-latency"] = [2, 2]
            out["baseline-cost"] = [len(run["baseline"]["cost"]["labels"])] * 2
            out["baseline-duration"] = [len(run["baseline"]["duration"]["labels"])] * 2
    scores = data.get("scores")
    if scores and scores["series"] and n:
        out["scores"] = [sum(v is not None for v in row) for row in scores["series"]["means"]]
    if scores and run and run["baseline"] and scores["stats"]:
        out["baseline-scores"] = [len(scores["stats"])] * 2
    return out


DRAWN = """(() => {
  const out = {};
  for (const [id, chart] of Object.entries(window.__report.charts)) {
    out[id] = chart.data.datasets.map((d, i) => chart.getDatasetMeta(i).data.filter(
      (p) => Number.isFinite(p.x) && Number.isFinite(p.y)).length);
  }
  return out;
})()"""

INKED = """(() => {
  const out = {};
  for (const [id, chart] of Object.entries(window.__report.charts)) {
    const c = chart.canvas, px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let inked = 0;
    for (let i = 3; i < px.length; i += 4) if (px[i] > 0) inked++;
    out[id] = {inked, width: c.width, height: c.height};
  }
  return out;
})()"""


def test_the_period_report_loads_without_errors_and_draws_every_point(browser, period_page, tmp_path):
    path, data = period_page
    browser.viewport(1280, 900)
    browser.open(path)
    assert browser.problems() == []
    points = expected_points(data)
    assert set(points) == {"cost", "calls", "latency", "success", "errors"}
    assert browser.evaluate(DRAWN) == points
    assert browser.evaluate("window.__report.points") == points  # what the data asked for
    for chart, ink in browser.evaluate(INKED).items():
        assert ink["width"] > 200 and ink["height"] > 150, chart
        assert ink["inked"] > 0.01 * ink["width"] * ink["height"], f"{chart} is blank"
    cards = browser.evaluate("[...document.querySelectorAll('[data-card]')]"
                             ".map(c => [c.dataset.card, c.querySelector('.value').textContent])")
    assert cards == [[c["id"], c["value"]] for c in data["cards"]]
    alerts = browser.evaluate("[...document.querySelectorAll('#alert-list li')].map(li => li.textContent)")
    assert alerts == [a["message"] for a in data["alerts"]]
    rows = browser.evaluate("document.querySelectorAll('#failed-table tbody tr').length")
    assert rows == len(data["failed"]["rows"]) > 0
    assert browser.evaluate("document.querySelectorAll('#breakdown-tables table').length") == 3
    browser.screenshot(tmp_path / "period.png")
    assert (tmp_path / "period.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_click_on_a_trace_opens_it(browser, period_page):
    path, data = period_page
    browser.viewport(1280, 900)
    browser.open(path)
    index = next(i for i, t in enumerate(data["traces"]) if t["id"] == "order-42")
    assert browser.evaluate("document.getElementById('trace-view').hidden") is True
    browser.click(f'#traces-table button[data-trace="{index}"]')
    view = browser.evaluate("""(() => {
      const v = document.getElementById('trace-view');
      return {hidden: v.hidden, shown: v.getAttribute('data-trace-shown'), title: v.querySelector('h3').textContent,
              rows: [...v.querySelectorAll('.trace-row')].map(r => [Number(r.dataset.depth),
                                                                     r.querySelector('.trace-name').textContent]),
              bars: [...v.querySelectorAll('.bar')].map(b => [parseFloat(b.style.left), parseFloat(b.style.width),
                                                              b.classList.contains('failed')]),
              focused: document.activeElement === v};
    })()""")
    assert view["hidden"] is False and view["shown"] == str(index) and view["title"] == "Trace order-42"
    assert [depth for depth, _ in view["rows"]] == [0, 1, 1, 2]
    assert "orchestrator.handle_order" in view["rows"][0][1] and "RuntimeError: a tool failed" in view["rows"][0][1]
    assert "lookup timed out" in view["rows"][2][1]
    assert [failed for _, _, failed in view["bars"]] == [True, False, True, False]
    assert view["bars"][0][:2] == [0, 100]  # the root spans the whole timeline
    assert abs(view["bars"][2][0] - 400 / 900 * 100) < 0.01
    assert view["focused"]
    # the trace id in the failed-calls table opens the same trace
    browser.click("#close-trace, #trace-view .close")
    assert browser.evaluate("document.getElementById('trace-view').hidden") is True
    assert browser.evaluate("document.activeElement.matches('#traces-table button.trace-link')")  # focus back
    browser.click(f'#failed-table button[data-trace="{index}"]')
    assert browser.evaluate("document.getElementById('trace-view').getAttribute('data-trace-shown')") == str(index)
    for kind in ("keyDown", "keyUp"):  # Escape closes it too
        browser.call("Input.dispatchKeyEvent", {"type": kind, "key": "Escape", "code": "Escape",
                                                "windowsVirtualKeyCode": 27})
    assert browser.evaluate("document.getElementById('trace-view').hidden") is True
    assert browser.problems() == []


def test_hostile_strings_are_shown_as_text(browser, period_page):
    path, data = period_page
    browser.open(path)
    page = browser.evaluate("""(() => ({
      pwned: window.pwned === undefined ? null : window.pwned,
      images: document.querySelectorAll('img, svg').length,
      scripts: document.querySelectorAll('script').length,
      text: document.body.innerText,
    }))()""")
    assert page["pwned"] is None and page["images"] == 0 and page["scripts"] == 3
    assert HOSTILE_AGENT in page["text"]
    assert HOSTILE_FUNCTION in page["text"]
    assert "boom <b>&amp;</b>" in page["text"] and HOSTILE_MESSAGE.split()[0] in page["text"]
    index = next(i for i, t in enumerate(data["traces"]) if t["id"].startswith("trace-<svg"))
    browser.click(f'#traces-table button[data-trace="{index}"]')
    assert browser.evaluate("document.querySelectorAll('svg').length") == 0
    assert browser.evaluate("window.pwned === undefined")
    assert browser.problems() == []


def test_a_narrow_window_has_no_horizontal_scroll_and_the_page_prints(browser, period_page, tmp_path):
    path, _ = period_page
    browser.viewport(390, 844, mobile=True)
    browser.open(path)
    widths = browser.evaluate("({page: document.documentElement.scrollWidth, window: window.innerWidth,"
                              " charts: [...document.querySelectorAll('canvas')].map(c => c.getBoundingClientRect().width)})")
    assert widths["page"] <= widths["window"], widths
    assert all(0 < w <= widths["window"] for w in widths["charts"])
    browser.screenshot(tmp_path / "narrow.png", full=False, height=1600)
    browser.viewport(1280, 900)
    pdf = base64.b64decode(browser.call("Page.printToPDF", {"printBackground": True})["data"])
    assert pdf[:5] == b"%PDF-" and len(pdf) > 10_000
    assert browser.problems() == []


def test_a_run_report_with_its_baseline(browser, run_page, tmp_path):
    path, data = run_page
    browser.viewport(1280, 900)
    browser.open(path)
    assert browser.problems() == []
    points = expected_points(data)
    assert {"expensive-tests", "slowest-tests", "baseline-cost", "baseline-duration", "baseline-latency"} <= set(points)
    assert browser.evaluate(DRAWN) == points
    assert browser.evaluate("document.getElementById('run-section').hidden") is False
    facts = browser.evaluate("[...document.querySelectorAll('#run-info dt')].map(d => d.textContent)")
    assert facts[:2] == ["Status", "Started"] and "Commit" in facts
    labels = browser.evaluate("window.__report.charts['expensive-tests'].data.labels")
    assert labels[0] == "tests/test_agent.py::test_slow"
    browser.click('#tests-table button[data-trace]')
    assert browser.evaluate("document.getElementById('trace-view').hidden") is False
    assert browser.evaluate("document.querySelectorAll('#trace-view .trace-row').length") == 3
    browser.screenshot(tmp_path / "run.png")
    assert browser.problems() == []


def write_readme_picture(target: Path) -> Path:
    """The picture of the README: the top of a 30-day report of a busy project."""
    folder = Path(tempfile.mkdtemp(prefix="report-picture-"))
    try:
        now = time.time()
        db = write_events(folder / "t.db", [e for e in demo_events(50_000, now=now) if e.agent_name != HOSTILE_AGENT])
        with store.connect(db, readonly=True) as conn:
            data = collect_report(conn, parse_period("30d", now=now), thresholds=Thresholds(success_rate_min=92.0),
                                  now=now, title="Telemetry of the agents (example)")
        page = write_html_report(folder / "report.html", data)
        browser = Browser(CHROMIUM)
        try:
            browser.viewport(1280, 900)
            browser.open(page)
            assert browser.problems() == [], browser.problems()
            browser.screenshot(target, full=False, height=1250)
        finally:
            browser.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return target


if __name__ == "__main__":
    if CHROMIUM is None:
        sys.exit("no Chromium found: apt-get install -y chromium, or set DEVTELEMETRY_CHROMIUM")
    print(write_readme_picture(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/report.png")))


def test_a_run_report_shows_its_scores_and_a_test_s_history(browser, run_page, tmp_path):
    path, data = run_page
    browser.viewport(1280, 900)
    browser.open(path)
    assert browser.problems() == []
    cards = browser.evaluate("[...document.querySelectorAll('[data-card]')].map(c => c.getAttribute('data-card'))")
    assert cards[cards.index("total_cost") + 1] == "scores"  # next to the cost
    card = browser.evaluate("document.querySelector('[data-card=scores]').innerText")
    # tone 0.5 is the lowest mean; correctness: (0.7 + 0.9) / 2 = 0.8
    assert "tone" in card and "0.50" in card and "correctness 0.80" in card
    points = browser.evaluate(DRAWN)
    assert points["scores"] == expected_points(data)["scores"] and sum(points["scores"]) >= 2
    assert points["baseline-scores"] == [2, 2]
    baseline_scores = browser.evaluate("window.__report.charts['baseline-scores'].data.datasets.map(d => d.data)")
    assert baseline_scores == [[pytest.approx(0.95), None], [pytest.approx(0.8), 0.5]]  # the baseline has no tone
    assert browser.evaluate("document.getElementById('test-history').hidden") is True
    browser.click('#tests-table button.history-link[data-test="tests/test_agent.py::test_plan"]')
    assert browser.evaluate("document.getElementById('test-history').hidden") is False
    assert browser.evaluate("document.querySelector('#test-history h3').textContent") == (
        "History of tests/test_agent.py::test_plan")
    drawn = browser.evaluate(DRAWN)
    assert drawn["test-history-cost"] == [2, 2]  # cost and slowest call in both runs
    assert drawn["test-history-scores"] == [2, 2]
    assert browser.evaluate("window.__report.charts['test-history-scores'].data.datasets.map(d => [d.label, d.data])") == [
        ["correctness", [1.0, 0.9]], ["tone", [None, 0.5]]]  # tone in this run only
    assert browser.evaluate("window.__report.charts['test-history-cost'].data.datasets[0].data") == [
        pytest.approx(0.006), pytest.approx(0.009)]
    browser.click('#tests-table button.history-link[data-test="tests/test_agent.py::test_answer"]')
    assert browser.evaluate("document.getElementById('test-history').getAttribute('data-test-shown')") == (
        "tests/test_agent.py::test_answer")
    assert browser.evaluate("window.__report.charts['test-history-scores'].data.datasets[0].data") == [
        0.9, pytest.approx(0.7)]
    browser.screenshot(tmp_path / "run-history.png")
    assert browser.problems() == []
