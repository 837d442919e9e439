"""A webhook receiver for tests: a real HTTP server on a free loopback port that records every
delivery and answers 500 to its first few, as a receiver that is down for a while does."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from scripts.harness import free_port


@dataclass(frozen=True)
class Delivery:
    path: str
    event_id: str
    attempt: int
    signature: str
    content_type: str
    body: bytes
    status: int
    at: float


@dataclass
class Receiver:
    url: str
    failures: int
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Requests being answered at once, at most: one subscription's must never overlap.
    most_at_once: int = 0
    _at_once: int = 0

    def arrived(self) -> int:
        """The status to answer the request that just arrived with."""
        with self.lock:
            self._at_once += 1
            self.most_at_once = max(self.most_at_once, self._at_once)
            return 500 if len(self.deliveries) < self.failures else 200

    def answer(self, delivery: Delivery) -> None:
        with self.lock:
            self._at_once -= 1
            self.deliveries.append(delivery)

    async def taken(self, count: int) -> bool | None:
        with self.lock:
            return True if sum(d.status == 200 for d in self.deliveries) >= count else None


@contextmanager
def receiving(failures: int = 0, delay: float = 0.0) -> Iterator[Receiver]:
    """A receiver at `url`, answering 500 to its first `failures` requests, each after `delay`."""
    port = free_port()
    receiver = Receiver(f"http://127.0.0.1:{port}", failures)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = receiver.arrived()
            time.sleep(delay)
            receiver.answer(
                Delivery(
                    path=self.path,
                    event_id=self.headers.get("Insats-Event-Id", ""),
                    attempt=int(self.headers.get("Insats-Delivery-Attempt", "0")),
                    signature=self.headers.get("Insats-Signature", ""),
                    content_type=self.headers.get("Content-Type", ""),
                    body=body,
                    status=status,
                    at=time.monotonic(),
                )
            )
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the test asserts on what it received

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
