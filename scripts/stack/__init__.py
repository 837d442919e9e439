"""The local stack: a real Kafka broker, a MongoDB-protocol server and an OIDC identity provider
(Keycloak) as background processes.

`up` installs what is missing (idempotently, into the git-ignored .local/stack), starts what is
not running, and waits until each answers. `down` stops only the processes whose pid files it
wrote. Services and tests reach the stack through the URLs in `environment()`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from scripts.stack.config import StackSettings
from scripts.stack.kafka import LocalKafka
from scripts.stack.keycloak import LocalKeycloak
from scripts.stack.keycloak_realm import AUDIENCE
from scripts.stack.mongo import LocalMongo
from scripts.stack.processes import ManagedProcess


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    ours: bool
    answers: bool
    pid: int | None
    log: str
    server: str = ""


class _Component(Protocol):
    @property
    def process(self) -> ManagedProcess: ...

    def install(self) -> None: ...

    def start(self) -> None: ...

    async def answers(self) -> bool: ...


class Stack:
    def __init__(self, settings: StackSettings | None = None) -> None:
        self.settings = settings or StackSettings()
        self.kafka = LocalKafka(self.settings)
        self.mongo = LocalMongo(self.settings)
        self.keycloak = LocalKeycloak(self.settings)

    def environment(self) -> dict[str, str]:
        environment = {
            "INSATS_KAFKA_BOOTSTRAP_SERVERS": self.settings.bootstrap_servers,
            "INSATS_MONGODB_URL": self.settings.mongodb_url,
        }
        if self.settings.identity_provider:
            environment["INSATS_OIDC_ISSUER"] = self.settings.oidc_issuer
            environment["INSATS_OIDC_AUDIENCE"] = AUDIENCE
        return environment

    def _components(self, only: Collection[str] | None = None) -> list[_Component]:
        found: list[tuple[str, _Component]] = [("mongo", self.mongo), ("kafka", self.kafka)]
        if self.settings.identity_provider:
            found.append(("keycloak", self.keycloak))
        return [component for name, component in found if only is None or name in only]

    def install(self, only: Collection[str] | None = None) -> None:
        for component in self._components(only):
            component.install()

    def up(
        self,
        timeout: float = 120.0,
        identity_timeout: float = 180.0,
        only: Collection[str] | None = None,
    ) -> None:
        asyncio.run(self.start(timeout, identity_timeout, only))

    async def start(
        self,
        timeout: float = 120.0,
        identity_timeout: float = 180.0,
        only: Collection[str] | None = None,
    ) -> None:
        """Install what is missing, start what does not answer, wait until each answers (of the
        components named in `only`, if given). Keycloak has its own, longer limit: its first
        start builds its server and its database (about 30 s here), on the same two cores as
        the others starting beside it."""
        components = self._components(only)
        await asyncio.to_thread(self.install, only)
        # Something already answering on a port (a stack from another checkout, a real server)
        # is used as it is, and not started a second time.
        for component in components:
            if not await component.answers():
                component.start()
        started = time.monotonic()
        for component in components:
            limit = identity_timeout if component is self.keycloak else timeout
            while not await component.answers():
                if time.monotonic() > started + limit:
                    raise TimeoutError(
                        f"{component.process.name} did not answer within {limit:.0f} s; "
                        f"see {component.process.log_file}"
                    )
                if not component.process.running():
                    raise RuntimeError(
                        f"{component.process.name} exited; see {component.process.log_file}"
                    )
                await asyncio.sleep(0.25)

    def down(self, only: Collection[str] | None = None) -> list[str]:
        """Stop what we started, or of that only the components named in `only`."""
        stopped = []
        for name, stop in (
            ("keycloak", self.keycloak.stop),
            ("kafka", self.kafka.stop),
            ("mongo", self.mongo.stop),
        ):
            if (only is None or name in only) and stop():
                stopped.append(name)
        return stopped

    def status(self) -> list[ComponentStatus]:
        return asyncio.run(self.check())

    async def check(self) -> list[ComponentStatus]:
        found = [
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
        if self.settings.identity_provider:
            found.append(
                ComponentStatus(
                    "keycloak",
                    self.keycloak.process.running(),
                    await self.keycloak.answers(),
                    self.keycloak.process.pid(),
                    str(self.keycloak.process.log_file),
                    self.keycloak.server_name,
                )
            )
        return found
