"""SecantusDB, a MongoDB-wire-protocol server on WiredTiger, in its own virtualenv.

It is GPL-2.0 and runs as a separate process, never imported: it is installed into the stack's
folder, not into the project's environment. `--sync-on-commit` makes acknowledged writes survive
kill -9 (without it the last half second is lost; see LOCAL_STACK.md).
"""

from __future__ import annotations

import subprocess
import sys

from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from scripts.stack.config import StackSettings
from scripts.stack.processes import ManagedProcess


class LocalMongo:
    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.home = settings.home / "secantus"
        self.venv = self.home / "venv"
        self.data = self.home / "data"
        self.process = ManagedProcess("mongo", settings.run_dir)

    @property
    def server(self) -> str:
        return str(self.venv / "bin" / "secantusd-py")

    def installed(self) -> bool:
        marker = self.venv / ".secantusdb-version"
        return marker.exists() and marker.read_text() == self.settings.secantus_version

    def install(self) -> None:
        if self.installed():
            return
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(self.venv)], check=True)  # noqa: S603
        subprocess.run(  # noqa: S603 - fixed argv
            [
                str(self.venv / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                f"secantusdb=={self.settings.secantus_version}",
            ],
            check=True,
        )
        (self.venv / ".secantusdb-version").write_text(self.settings.secantus_version)

    def start(self) -> None:
        if self.process.running():
            return
        self.data.mkdir(parents=True, exist_ok=True)
        self.process.start(
            [
                self.server,
                "--host",
                self.settings.host,
                "--port",
                str(self.settings.mongo_port),
                "--storage-path",
                str(self.data),
                "--sync-on-commit",
                "--log-level",
                "WARNING",
            ]
        )

    def stop(self) -> bool:
        return self.process.stop(timeout=20)

    async def answers(self) -> bool:
        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
            self.settings.mongodb_url, serverSelectionTimeoutMS=1_000
        )
        try:
            await client.admin.command("ping")
        except PyMongoError:
            return False
        finally:
            await client.close()
        return True
