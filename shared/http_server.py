"""uvicorn, stopped by SIGTERM as Kubernetes does, ending with exit code 0."""

from __future__ import annotations

import signal
from typing import Any

import uvicorn


class GracefulServer(uvicorn.Server):
    def handle_exit(self, sig: int, frame: Any) -> None:
        super().handle_exit(sig, frame)
        # uvicorn re-raises the captured signal once shut down, so the process would end "killed
        # by SIGTERM" even after a clean drain. A graceful stop is a normal end: exit 0.
        if sig == signal.SIGTERM and sig in self._captured_signals:
            self._captured_signals.remove(sig)
