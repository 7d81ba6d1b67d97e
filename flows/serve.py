"""``nelmtrack serve``: the pipeline flow on a schedule, through a Prefect server.

Prefect does not schedule runs on the temporary server it starts for a plain
flow call ("Cannot schedule flows on an ephemeral server"). So ``serve`` uses
the server named by ``PREFECT_API_URL`` when that is set, and otherwise starts
``prefect server start`` itself on a free local port, waits until it answers,
and stops it again when serving stops (Ctrl-C or SIGTERM). The local server
runs in its own process group (so a Ctrl-C reaches ``serve`` first, which still
needs the server to pause its schedule) and, on Linux, is told to stop if
``serve`` itself dies, so nothing is left behind.

Each scheduled run is an ordinary Prefect flow run of ``pipeline_flow`` in a
child process, with the same source, warehouse and options every time; it
takes the warehouse lock like any ``nelmtrack run``, so a run that overlaps
the previous one waits for it. Runs are incremental: only new and changed
files are read.

When serving stops, a run in progress stops as an interrupted ``nelmtrack run``
does, and publishes nothing; no new run starts. The command the user started
only supervises: it runs the Prefect runner in a process group of its own and,
on SIGINT (Ctrl-C reaches the terminal's whole process group) or SIGTERM, sends
it one SIGTERM, so the runner and its flow-run processes are stopped by
nelmtrack, in order, and not interrupted mid-import by the terminal. The runner
then leaves a stop mark that every run checks before it starts and before it
publishes (``NELMTRACK_SERVE_STOP_FILE``), sends SIGTERM to the runs still going
and waits for them to clean up, and stops the server.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from config import load_config

API_URL_ENV = "PREFECT_API_URL"
#: Set by serve for its runs: the file whose existence means "serve is stopping".
STOP_FILE_ENV = "NELMTRACK_SERVE_STOP_FILE"
#: Set in the supervised process that serves (see ``supervise``).
SUPERVISED_ENV = "NELMTRACK_SERVE_SUPERVISED"


class ServeError(Exception):
    """Serving cannot start; the message says what to fix."""


@dataclass
class PrefectServer:
    """The Prefect API that schedules the runs, and the process if ``serve`` started it."""

    api_url: str
    process: subprocess.Popen | None = None

    @property
    def started_here(self) -> bool:
        return self.process is not None


def _healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(api_url.rstrip("/") + "/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop_when_parent_dies() -> None:
    """Runs in the server's process before exec: SIGTERM it if ``serve`` dies (Linux)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def check_server(api_url: str) -> PrefectServer:
    """The Prefect server somebody else runs at ``api_url``; it must answer."""
    if not _healthy(api_url):
        raise ServeError(
            f"no Prefect server answers at {API_URL_ENV}={api_url}; start it, or unset "
            f"{API_URL_ENV} to let nelmtrack start a local one"
        )
    return PrefectServer(api_url=api_url)


def local_api_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/api"


STARTUP_TIMEOUT_ENV = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
START_ATTEMPTS = 2


def server_start_timeout(cfg_timeout_s: float) -> float:
    """Seconds to wait for a local Prefect server: Prefect's own setting when given, else the
    config's (a busy machine needs far more than Prefect's default 20 s)."""
    given = os.environ.get(STARTUP_TIMEOUT_ENV, "").strip()
    if not given:
        return cfg_timeout_s
    try:
        return float(given)
    except ValueError:
        raise ServeError(f"{STARTUP_TIMEOUT_ENV} must be a number of seconds") from None


def _server_command(port: int, temporary: bool) -> tuple[list[str], dict[str, str]]:
    """``prefect server start`` (with the UI, for serve), or the API-only app Prefect runs as
    its temporary server (for a plain run)."""
    if not temporary:
        return [sys.executable, "-m", "prefect", "server", "start"] + [
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ], dict(os.environ)
    # Where prefect is installed, found without importing it (an import fixes its settings).
    app_dir = Path(importlib.util.find_spec("prefect").origin).parent.parent
    command = [sys.executable, "-m", "uvicorn", "--app-dir", str(app_dir)]
    command += ["--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--log-level", "error", "--lifespan", "on"]
    env = dict(os.environ)
    env.pop(API_URL_ENV, None)
    env.update(PREFECT_UI_ENABLED="0", PREFECT__SERVER_EPHEMERAL="1", PREFECT__SERVER_FINAL="1")
    return command, env


def server_log() -> Path:
    """Where a Prefect server that nelmtrack starts writes its messages: in the Prefect home."""
    home = Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser()
    home.mkdir(parents=True, exist_ok=True)
    return home / "nelmtrack-server.log"


def start_local_server(
    start_timeout_s: float, port: int | None = None, temporary: bool = False
) -> PrefectServer:
    """A Prefect server on this machine (a free port if none given), once it answers.

    It runs in its own process group, so a Ctrl-C in the terminal reaches nelmtrack
    alone (which still needs the server to record that its run stopped), and it stops
    if nelmtrack dies. A server that exits or does not answer in time is stopped and
    started once more (on a busy machine a start can stall); after that, one line says
    how to point at a running server instead.
    """
    log = server_log()
    for attempt in range(1, START_ATTEMPTS + 1):
        port = port if attempt == 1 and port else _free_port()
        command, env = _server_command(port, temporary)
        with log.open("ab") as log_file:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # the welcome banner
                stderr=log_file,  # a busy server's own errors stay out of nelmtrack's output
                env=env,
                process_group=0,
                preexec_fn=_stop_when_parent_dies,
            )
        server = PrefectServer(api_url=local_api_url(port), process=process)
        deadline = time.monotonic() + start_timeout_s
        try:
            while not _healthy(server.api_url):
                if process.poll() is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.25)
            else:
                return server
        except BaseException:  # interrupted while waiting: leave nothing behind
            stop_server(server)
            raise
        stop_server(server)
    raise ServeError(
        f"the local Prefect server did not start within {start_timeout_s:g} s "
        f"({START_ATTEMPTS} attempts; its messages: {log}): allow more time with "
        f"{STARTUP_TIMEOUT_ENV}, or start one (`prefect server start`) and set "
        f"{API_URL_ENV}=http://127.0.0.1:4200/api"
    )


def stop_server(server: PrefectServer, grace_s: float = 10.0) -> None:
    """Stop a server that ``serve`` started, with everything in its process group."""
    process = server.process
    if process is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    with contextlib.suppress(ProcessLookupError):  # any child that outlived its parent
        os.killpg(process.pid, signal.SIGKILL)


def supervise(cli_args: list[str]) -> int:
    """Run ``nelmtrack <cli_args>`` (serve) in a process group of its own until it ends;
    turn SIGINT and SIGTERM into one SIGTERM to it. Returns its exit status."""
    child = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", *cli_args],
        env={**os.environ, SUPERVISED_ENV: "1"},
        process_group=0,
        preexec_fn=_stop_when_parent_dies,
    )
    asked: list[int] = []

    def forward(signum: int, frame: object) -> None:
        if not asked:
            asked.append(signum)
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        returncode = child.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 128 - returncode if returncode < 0 else returncode


def describe_schedule(cron: str | None, interval_s: float | None, timezone: str) -> str:
    if interval_s is not None:
        return f"every {interval_s:g} s"
    return f"cron '{cron}' ({timezone})"


def serve_pipeline(
    source: str | Path,
    db: str | Path,
    config_file: str | Path | None = None,
    prune: bool = False,
    cron: str | None = None,
    interval_s: float | None = None,
    say: Callable[[str], None] = print,
) -> None:
    """Serve the pipeline flow on a schedule until interrupted; blocks.

    The schedule is ``interval_s`` seconds when given, else ``cron``, else
    ``schedule.cron`` from the config.
    """
    cfg = load_config(config_file)
    db_path = Path(db).resolve()
    schedule_cfg = cfg.section("schedule")
    cron = cron or schedule_cfg["cron"]
    timezone = schedule_cfg["timezone"]

    # Prefect reads its API address once, when first imported: set it first. The
    # runs, child processes, inherit it.
    external_url = os.environ.get(API_URL_ENV, "")
    port = None if external_url else _free_port()
    os.environ[API_URL_ENV] = external_url or local_api_url(port)
    from flows.preflight import preflight

    # The mistakes a user can make are caught before Prefect is imported or a server started.
    preflight(source, db_path, config_file, False)
    from prefect.schedules import Cron, Interval
    from prefect.types.entrypoint import EntrypointType

    from flows.pipeline import pipeline_flow, pseudonymiser_for

    try:
        schedule = (
            Interval(interval_s, timezone=timezone)
            if interval_s is not None
            else Cron(cron, timezone=timezone)
        )
    except ValueError as exc:
        raise ServeError(f"invalid schedule: {exc}") from None

    if external_url:
        server = check_server(external_url)
        say(f"Prefect server: using {server.api_url} ({API_URL_ENV})")
    else:
        server = start_local_server(
            server_start_timeout(schedule_cfg["server_start_timeout_seconds"]), port
        )
        say(f"Prefect server: started a local one at {server.api_url} (it stops when serve stops)")
    stop_dir = Path(tempfile.mkdtemp(prefix="nelmtrack-serve-"))
    os.environ[STOP_FILE_ENV] = str(stop_dir / "stopping")  # the runs inherit it
    try:
        pseudonymiser_for(cfg, demo=False)  # a key in a Secret block: is it there?
        name = db_path.stem
        say(
            f"serving {pipeline_flow.name}/{name} {describe_schedule(cron, interval_s, timezone)}: "
            f"{Path(source).resolve()} → {db_path}; Ctrl-C to stop"
        )
        pipeline_flow.serve(
            name=name,
            schedules=[schedule],
            parameters={
                "source": str(Path(source).resolve()),
                "db": str(db_path),
                "config_file": str(Path(config_file).resolve()) if config_file else None,
                "prune": prune,
            },
            pause_on_shutdown=True,
            # One run at a time: a run that comes due while one is going waits for it
            # instead of starting a process that would wait for the warehouse lock.
            limit=1,
            print_starting_message=False,
            # runs import flows.pipeline by module name: works from any folder once installed
            entrypoint_type=EntrypointType.MODULE_PATH,
        )
    finally:
        (stop_dir / "stopping").touch()
        stopped = stop_runs(exclude=server.process.pid if server.process else None)
        if stopped:
            say(f"stopped {stopped} run(s) in progress: they published nothing")
        if server.started_here:
            stop_server(server)
            say("Prefect server: stopped the local one")
        shutil.rmtree(stop_dir, ignore_errors=True)
        os.environ.pop(STOP_FILE_ENV, None)
    say("stopped serving")


def _descendants(root: int) -> list[int]:
    """Every living process below ``root`` (Linux /proc), children first."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # the command name may contain spaces and parentheses: ppid follows the last ')'
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    found, queue = [], [root]
    while queue:
        for child in parents.get(queue.pop(0), []):
            found.append(child)
            queue.append(child)
    return found


def stop_runs(exclude: int | None, grace_s: float = 60.0) -> int:
    """SIGTERM the flow runs still going (this process's children, not the Prefect server
    ``exclude``), wait for them to clean up, then SIGKILL whatever is left below this
    process apart from the server; returns how many runs were stopped."""
    if not Path("/proc").is_dir():
        return 0
    server_family = ({exclude} | set(_descendants(exclude))) if exclude else set()
    children = set(_children(os.getpid()))
    runs = [pid for pid in children - server_family if _alive(pid)]
    for pid in runs:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(_alive(pid) for pid in runs):
        time.sleep(0.1)
    for pid in set(_descendants(os.getpid())) - server_family:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    for pid in children - server_family:  # reap them
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
    return len(runs)


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
