"""The local stack: a real Kafka broker and a MongoDB-protocol server as background processes.

`up` installs what is missing (idempotently, into the git-ignored .local/stack), starts what is
not running, and waits until both answer. `down` stops only the processes whose pid files it
wrote. Services and tests reach the stack through the URLs in `environment()`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from scripts.stack.config import StackSettings
from scripts.stack.kafka import LocalKafka
from scripts.stack.mongo import LocalMongo


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    ours: bool
    answers: bool
    pid: int | None
    log: str
    server: str = ""


class Stack:
    def __init__(self, settings: StackSettings | None = None) -> None:
        self.settings = settings or StackSettings()
        self.kafka = LocalKafka(self.settings)
        self.mongo = LocalMongo(self.settings)

    def environment(self) -> dict[str, str]:
        return {
            "INSATS_KAFKA_BOOTSTRAP_SERVERS": self.settings.bootstrap_servers,
            "INSATS_MONGODB_URL": self.settings.mongodb_url,
        }

    def install(self) -> None:
        self.mongo.install()
        self.kafka.install()

    def up(self, timeout: float = 120.0) -> None:
        asyncio.run(self.start(timeout))

    async def start(self, timeout: float = 120.0) -> None:
        """Install what is missing, start what does not answer, wait until both answer."""
        await asyncio.to_thread(self.install)
        # Something already answering on a port (a stack from another checkout, a real server)
        # is used as it is, and not started a second time.
        if not await self.mongo.answers():
            self.mongo.start()
        if not await self.kafka.answers():
            self.kafka.start()
        deadline = time.monotonic() + timeout
        for component in (self.mongo, self.kafka):
            while not await component.answers():
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{component.process.name} did not answer within {timeout:.0f} s; "
                        f"see {component.process.log_file}"
                    )
                if not component.process.running():
                    raise RuntimeError(
                        f"{component.process.name} exited; see {component.process.log_file}"
                    )
                await asyncio.sleep(0.25)

    def down(self) -> list[str]:
        stopped = []
        if self.kafka.stop():
            stopped.append("kafka")
        if self.mongo.stop():
            stopped.append("mongo")
        return stopped

    def status(self) -> list[ComponentStatus]:
        return asyncio.run(self.check())

    async def check(self) -> list[ComponentStatus]:
        return [
            ComponentStatus(
                "kafka",
                self.kafka.process.running(),
                await self.kafka.answers(),
                self.kafka.process.pid(),
                str(self.kafka.process.log_file),
                "Apache Kafka (KRaft)",
            ),
            ComponentStatus(
                "mongo",
                self.mongo.process.running(),
                await self.mongo.answers(),
                self.mongo.process.pid(),
                str(self.mongo.process.log_file),
                self.mongo.server_name,
            ),
        ]
