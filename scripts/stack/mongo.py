"""The local stack's MongoDB-protocol server: SecantusDB, on WiredTiger.

Two builds of the same project, both GPL-2.0 and both run as a separate process, never imported
or linked:
- **secantusd-rs** (the crate secantus-mdb), the default: built once by cargo from crates.io into
  the stack's folder and reused while its version matches. Several times faster than the Python
  server on the same machine (README, Performance).
- **secantusd-py** (the PyPI package secantusdb), in a virtualenv of its own: the fallback when the
  Rust build fails or INSATS_STACK_DATABASE_SERVER=python asks for it.

Both start with `--sync-on-commit`: without it, acknowledged writes are lost on kill -9 (see
LOCAL_STACK.md, and tests/faults/test_database_durability.py, which checks it for the server in
use). Each keeps its data in its own folder: the two do not share a storage format promise.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from scripts.stack.config import StackSettings
from scripts.stack.processes import ManagedProcess


class LocalMongo:
    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.python_home = settings.home / "secantus"
        self.venv = self.python_home / "venv"
        self.rust_home = settings.home / "secantus-rs"
        self.rust_root = self.rust_home / settings.secantus_rs_version
        self.process = ManagedProcess("mongo", settings.run_dir)
        self.notes: list[str] = []

    # --- which server ------------------------------------------------------------------------

    @property
    def rust_binary(self) -> Path:
        return self.rust_root / "bin" / "secantusd-rs"

    @property
    def rust_failure_marker(self) -> Path:
        return self.rust_root / "BUILD-FAILED.log"

    @property
    def uses_rust(self) -> bool:
        return self.settings.database_server == "rust" and self.rust_binary.exists()

    @property
    def server_name(self) -> str:
        if self.uses_rust:
            return f"secantusd-rs {self.settings.secantus_rs_version}"
        return f"secantusd-py {self.settings.secantus_version}"

    @property
    def data(self) -> Path:
        return (self.rust_home if self.uses_rust else self.python_home) / "data"

    # --- install -----------------------------------------------------------------------------

    def installed(self) -> bool:
        return self.uses_rust or self._python_installed()

    def install(self) -> None:
        if self.settings.database_server == "rust" and not self.rust_binary.exists():
            self._build_rust()
        if not self.uses_rust:
            self._install_python()

    def _build_rust(self) -> None:
        """cargo install from crates.io, once per version. A failure falls back to the Python
        server, loudly, and is remembered (delete the marker to try again)."""
        if self.rust_failure_marker.exists():
            self._fallback(f"an earlier build failed; see {self.rust_failure_marker}")
            return
        cargo = shutil.which("cargo")
        if cargo is None:
            self._fallback("cargo is not on this machine")
            return
        self.rust_root.mkdir(parents=True, exist_ok=True)
        print(
            f"Building secantusd-rs {self.settings.secantus_rs_version} with cargo "
            "(a few minutes, once)...",
            file=sys.stderr,
            flush=True,
        )
        log = self.rust_root / "build.log"
        with log.open("wb") as output:
            result = subprocess.run(  # noqa: S603 - fixed argv
                [
                    cargo,
                    "install",
                    "secantus-mdb",
                    "--version",
                    self.settings.secantus_rs_version,
                    "--locked",
                    # The crates declare Rust 1.98; this machine has 1.95, with which they build
                    # and pass the project's whole suite (LOCAL_STACK.md).
                    "--ignore-rust-version",
                    "--root",
                    str(self.rust_root),
                ],
                stdout=output,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if result.returncode != 0 or not self.rust_binary.exists():
            shutil.copyfile(log, self.rust_failure_marker)
            self._fallback(f"cargo install failed (exit {result.returncode}); see {log}")

    def _fallback(self, why: str) -> None:
        note = (
            f"WARNING: the Rust database server is not available ({why}): the local stack "
            f"falls back to the slower Python server secantusd-py {self.settings.secantus_version}."
        )
        self.notes.append(note)
        print(note, file=sys.stderr, flush=True)

    def _python_installed(self) -> bool:
        marker = self.venv / ".secantusdb-version"
        return marker.exists() and marker.read_text() == self.settings.secantus_version

    def _install_python(self) -> None:
        if self._python_installed():
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

    # --- run ---------------------------------------------------------------------------------

    def argv(self) -> list[str]:
        common = [
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
        if self.uses_rust:
            # WiredTiger's cache would default to 4 GB: the stack shares its machine.
            return [
                str(self.rust_binary),
                "--config",
                str(self.rust_config),
                *common,
                "--cache-size",
                self.settings.mongo_cache_size,
            ]
        return [str(self.venv / "bin" / "secantusd-py"), *common]

    @property
    def rust_config(self) -> Path:
        """secantusd-rs's configuration file: what it takes from no flag (the TTL sweep). Named
        explicitly, so no file in /etc or the home directory is read instead."""
        return self.data.parent / "secantusd-rs.toml"

    def start(self) -> None:
        if self.process.running():
            return
        self.data.mkdir(parents=True, exist_ok=True)
        if self.uses_rust:
            self.rust_config.write_text(
                f"[storage]\nttl_sweep_seconds = {self.settings.mongo_ttl_sweep_seconds}\n"
            )
        self.process.start(self.argv())

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
