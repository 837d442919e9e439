"""Background processes with pid files, so the stack stops exactly what it started.

A pid file alone is not proof of ownership: pids are reused. Each pid file also records the
process's start time (psutil's create_time); a process counts as ours only if both match.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil


def _start_ticks(pid: int) -> str | None:
    """The process's start time as recorded in the pid file, or None if it is not alive."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:  # exited, waiting to be reaped
            return None
        return f"{process.create_time():.2f}"
    except psutil.Error:
        return None


def _same_start(now: str | None, recorded: str) -> bool:
    """The same process, started when the pid file says: psutil derives the start time from the
    boot time, which the kernel's clock adjustments move by a few hundredths over hours, so an
    exact match would disown a process hours later and leave it running after `stack down`. A
    reused pid starts far later than within a second of the one recorded."""
    try:
        return now is not None and abs(float(now) - float(recorded)) < 1.0
    except ValueError:
        return False


@dataclass(frozen=True)
class ManagedProcess:
    """One background process of the local stack: its pid file and log live in `run_dir`."""

    name: str
    run_dir: Path

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.run_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        """The pid of the process we started, if it is still that process and alive."""
        try:
            pid_text, ticks = self.pid_file.read_text().split()
            pid = int(pid_text)
        except (OSError, ValueError):
            return None
        if not _same_start(_start_ticks(pid), ticks):
            return None
        return pid

    def running(self) -> bool:
        return self.pid() is not None

    def start(self, argv: list[str], env: dict[str, str] | None = None) -> int:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_file.open("ab")
        # A new session detaches the process from our terminal and process group, so a Ctrl-C on
        # the CLI does not kill the stack and `stack down` can stop the whole group.
        proc = subprocess.Popen(  # noqa: S603 - argv is built by the stack, not from user input
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
        log.close()
        ticks = _start_ticks(proc.pid)
        self.pid_file.write_text(f"{proc.pid} {ticks}\n")
        return proc.pid

    def stop(self, timeout: float = 20.0) -> bool:
        """SIGTERM, then SIGKILL after `timeout`. Returns whether a process of ours was stopped."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _start_ticks(pid) is not None:
            _reap(pid)
            time.sleep(0.1)
        if _start_ticks(pid) is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            _reap(pid)
        self.pid_file.unlink(missing_ok=True)
        return True

    def kill(self) -> None:
        """kill -9, as a crash would: for fault tests. The pid file stays, like after a crash."""
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and _start_ticks(pid) is not None:
                _reap(pid)
                time.sleep(0.05)


def _reap(pid: int) -> None:
    """Collect a child that has exited, so it does not linger as a zombie that looks alive."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
