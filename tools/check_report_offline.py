"""Open the data-quality report in headless Chromium and fail unless it is fully offline.

Usage: ``python tools/check_report_offline.py DOCS_DIR [--screenshot PNG] [--chromium PATH]``
or ``python tools/check_report_offline.py --page NAME=HTML … [--figures CSS] [--screenshot PNG]``

DOCS_DIR is the folder given to ``run_quality_checks(docs_dir=...)``: the
script opens ``index.html``, the Data Docs home page and one Data Docs
validation page. ``--page`` names the pages to open instead (the outcome
report: its index and a patient page); with ``--figures``, every element the
CSS selector matches must render with a non-zero width and height, and there
must be at least one. The script listens to the DevTools protocol over
``--remote-debugging-pipe`` (Python stdlib only) and reports

* every request whose URL is not file:, data:, blob: or about: (the page tried
  to leave the file system; host names are additionally mapped to nowhere, so
  nothing actually goes out),
* every resource that failed to load (a missing local asset),
* every JavaScript exception and console error,

then saves a screenshot of each page (``<PNG stem>-<name>.png``: ``-index``,
``-data-docs``, ``-validation`` for the DQ report). Exit status 0 means no
problem was found.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
SETTLE_SECONDS = 1.5


class DevTools:
    """A headless Chromium driven through the DevTools protocol on file descriptors 3 and 4."""

    def __init__(self, chromium: str, profile: str) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def child_pipes() -> None:
            # Chromium reads commands on fd 3 and writes replies on fd 4.
            read_end = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
            write_end = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        args = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--allow-file-access-from-files",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--user-data-dir={profile}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=child_pipes,  # noqa: PLW1509 (single-threaded tool)
            pass_fds=(3, 4),
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def _read_message(self, timeout: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if not ready:
                return None
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """Send one command and wait for its reply; events that arrive meanwhile are kept."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read_message(30.0)
            if reply is None:
                raise TimeoutError(f"no reply to {method}")
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def drain(self, seconds: float) -> None:
        """Collect events for a while (late requests, timers, deferred scripts)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            event = self._read_message(left)
            if event is not None:
                self.events.append(event)

    def wait_for(self, method: str, session: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(
            e.get("method") == method and e.get("sessionId") == session for e in self.events
        ):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"page did not fire {method}")
            event = self._read_message(left)
            if event is not None:
                self.events.append(event)

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.send("Browser.close")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


def problems_of(events: list[dict[str, Any]], session: str) -> list[str]:
    """Requests leaving the file system, failed loads, JavaScript errors of one page."""
    found = []
    for event in events:
        if event.get("sessionId") != session:
            continue
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if not url.startswith(LOCAL_SCHEMES):
                found.append(f"request leaving file://: {url}")
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            found.append(
                f"resource failed to load: {params.get('errorText')} ({params.get('type')})"
            )
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            found.append(f"JavaScript exception: {text}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            text = " ".join(
                str(a.get("value", a.get("description", ""))) for a in params.get("args", [])
            )
            found.append(f"console error: {text}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            entry = params["entry"]
            found.append(f"browser log error: {entry.get('text')} {entry.get('url', '')}".strip())
    return found


#: JavaScript returning [id, width, height] of every element a CSS selector matches.
_SIZES = """JSON.stringify(Array.from(document.querySelectorAll(%s)).map(e => {
  const r = e.getBoundingClientRect();
  return [(e.closest('figure') || e).id || e.tagName, r.width, r.height];
}))"""


def figure_problems(browser: DevTools, session: str, selector: str) -> list[str]:
    """Every element ``selector`` matches must have a non-zero size; there must be one."""
    reply = browser.send(
        "Runtime.evaluate",
        {"expression": _SIZES % json.dumps(selector), "returnByValue": True},
        session=session,
    )
    sizes = json.loads(reply["result"]["value"])
    if not sizes:
        return [f"no element matches {selector}"]
    return [f"figure {name} renders with size {w}x{h}" for name, w, h in sizes if w <= 0 or h <= 0]


def check_page(
    browser: DevTools, page: Path, screenshot: Path, figures: str | None = None
) -> list[str]:
    """Load one page from the file system, save a screenshot, return its problems."""
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
        "sessionId"
    ]
    for domain in ("Page", "Network", "Runtime", "Log"):
        browser.send(f"{domain}.enable", session=session)
    browser.send(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1280, "height": 1000, "deviceScaleFactor": 1, "mobile": False},
        session=session,
    )
    browser.send("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
    browser.wait_for("Page.loadEventFired", session, timeout=30.0)
    browser.drain(SETTLE_SECONDS)
    sized = figure_problems(browser, session, figures) if figures else []
    shot = browser.send("Page.captureScreenshot", {"format": "png"}, session=session)
    screenshot.write_bytes(base64.b64decode(shot["data"]))
    browser.send("Target.closeTarget", {"targetId": target})
    return problems_of(browser.events, session) + sized


def report_pages(docs_dir: Path) -> dict[str, Path]:
    """The summary page, the Data Docs home page and its first validation page."""
    pages = {"index": docs_dir / "index.html", "data-docs": docs_dir / "data_docs" / "index.html"}
    validations = sorted((docs_dir / "data_docs" / "validations").rglob("*.html"))
    if validations:
        pages["validation"] = validations[0]
    return pages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "docs_dir", type=Path, nargs="?", help="folder holding index.html and data_docs/"
    )
    parser.add_argument(
        "--page",
        action="append",
        default=[],
        metavar="NAME=HTML",
        help="open this page instead of the DQ report's (repeatable)",
    )
    parser.add_argument(
        "--figures", default=None, help="CSS selector of elements that must have a size"
    )
    parser.add_argument(
        "--screenshot",
        type=Path,
        default=None,
        help="PNG path stem (default DOCS_DIR/offline-check.png)",
    )
    parser.add_argument("--chromium", default=CHROMIUM)
    args = parser.parse_args(argv)

    if args.page:
        pages = {name: Path(path) for name, _, path in (p.partition("=") for p in args.page)}
    elif args.docs_dir:
        pages = report_pages(args.docs_dir)
    else:
        parser.error("give DOCS_DIR or --page")
    missing = [str(p) for p in pages.values() if not p.is_file()]
    if missing or ("validation" not in pages and not args.page):
        print(
            f"report incomplete: missing {missing or 'a Data Docs validation page'}",
            file=sys.stderr,
        )
        return 2
    stem = args.screenshot or (args.docs_dir or Path(".")) / "offline-check.png"
    failures = []
    with tempfile.TemporaryDirectory(prefix="nelmtrack-chromium-") as profile:
        browser = DevTools(args.chromium, profile)
        try:
            for name, page in pages.items():
                shot = stem.with_name(f"{stem.stem}-{name}.png")
                problems = check_page(browser, page, shot, args.figures)
                print(f"{name}: {page} -> {shot} ({len(problems)} problem(s))")
                failures += [f"{name}: {p}" for p in problems]
        finally:
            browser.close()
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
