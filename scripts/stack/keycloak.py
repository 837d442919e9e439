"""Keycloak, the local stack's OIDC identity provider, from Maven Central.

The distribution zip comes from `mvn dependency:copy` into a Maven repository inside the stack's
home and is unpacked next to it; it is reused while its version matches. It runs in
development mode (HTTP, an H2 database in the distribution's data folder, local caches) on
127.0.0.1, and imports the `insats` realm (keycloak_realm.py) when its database is new, so a
restart keeps the clients and people registered since.

Its bootstrap admin is generated once and kept in `keycloak/admin.json` (0600): Keycloak creates
that user in the master realm when its database is new, and the admin REST API logs in with it.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx

from scripts.stack.config import StackSettings
from scripts.stack.keycloak_realm import realm_json
from scripts.stack.processes import ManagedProcess

ARTIFACT = "org.keycloak:keycloak-quarkus-dist:{version}:zip"
ADMIN_USERNAME = "insats-admin"


class LocalKeycloak:
    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.home = settings.home / "keycloak"
        self.dist = self.home / f"keycloak-{settings.keycloak_version}"
        self.data = self.dist / "data"
        self.credentials_file = self.home / "admin.json"
        self.process = ManagedProcess("keycloak", settings.run_dir)
        self.notes: list[str] = []

    @property
    def server_name(self) -> str:
        return f"Keycloak {self.settings.keycloak_version}"

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.keycloak_port}"

    # --- install -----------------------------------------------------------------------------

    @property
    def _marker(self) -> Path:
        return self.dist / ".insats-version"

    def installed(self) -> bool:
        return self._marker.exists() and self._marker.read_text() == self.settings.keycloak_version

    def install(self) -> None:
        if self.installed():
            return
        for tool in ("java", "mvn"):
            if shutil.which(tool) is None:
                raise RuntimeError(f"{tool} is needed to install the local Keycloak")
        version = self.settings.keycloak_version
        downloads = self.home / "downloads"
        subprocess.run(  # noqa: S603 - fixed argv
            [
                "mvn",
                "-q",
                "-B",
                f"-Dmaven.repo.local={self.home / 'm2'}",
                "dependency:copy",
                f"-Dartifact={ARTIFACT.format(version=version)}",
                f"-DoutputDirectory={downloads}",
            ],
            check=True,
        )
        archive = downloads / f"keycloak-quarkus-dist-{version}.zip"
        # Unpacked beside its final place and moved there whole, so an interrupted install never
        # leaves a half distribution that looks installed.
        unpacking = self.home / f".unpacking-{version}"
        if unpacking.exists():
            shutil.rmtree(unpacking)
        _unzip(archive, unpacking)
        (top,) = unpacking.iterdir()
        if self.dist.exists():
            shutil.rmtree(self.dist)
        top.rename(self.dist)
        unpacking.rmdir()
        # The Maven repository keeps a copy, from which a reinstall needs no network.
        archive.unlink()
        downloads.rmdir()
        self._marker.write_text(version)

    # --- run ---------------------------------------------------------------------------------

    def admin_credentials(self) -> tuple[str, str]:
        """The bootstrap admin's username and password, generated on first use."""
        if not self.credentials_file.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            text = json.dumps({"username": ADMIN_USERNAME, "password": secrets.token_urlsafe(24)})
            # Created with 0600 from the start: never readable by others, not even briefly.
            descriptor = os.open(self.credentials_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as file:
                file.write(text + "\n")
        stored = json.loads(self.credentials_file.read_text())
        return str(stored["username"]), str(stored["password"])

    def configure(self) -> None:
        """Put the realm where `--import-realm` finds it. Keycloak imports a realm only into a
        database that lacks it, so when the realm definition has changed since the database was
        made, the database is dropped and the realm imported afresh."""
        text = realm_json()
        digest = hashlib.sha256(text.encode()).hexdigest()
        recorded = self.data / ".insats-realm-sha256"
        database = self.data / "h2"
        if database.exists() and (not recorded.exists() or recorded.read_text() != digest):
            note = (
                "The insats realm's definition changed: the local Keycloak starts on a new "
                "database (register its API clients and people again)."
            )
            self.notes.append(note)
            print(note, file=sys.stderr, flush=True)
            shutil.rmtree(database)
        imports = self.data / "import"
        imports.mkdir(parents=True, exist_ok=True)
        (imports / "insats-realm.json").write_text(text)
        recorded.write_text(digest)

    def argv(self) -> list[str]:
        s = self.settings
        return [
            str(self.dist / "bin" / "kc.sh"),
            "start-dev",
            f"--http-host={s.host}",
            f"--http-port={s.keycloak_port}",
            # A fixed hostname makes the issuer the same whichever address a request used, so
            # tokens from a browser on localhost validate against the one configured issuer.
            f"--hostname={self.url}",
            "--import-realm",
            # Health and metrics stay off: either would open a management port (9000) as well.
            "--health-enabled=false",
            "--metrics-enabled=false",
        ]

    def start(self) -> None:
        if self.process.running():
            return
        self.configure()
        username, password = self.admin_credentials()
        self.process.start(
            self.argv(),
            env={
                "KC_BOOTSTRAP_ADMIN_USERNAME": username,
                "KC_BOOTSTRAP_ADMIN_PASSWORD": password,
                # Keycloak's default heap is 70 % of the machine's memory: the stack shares it.
                "JAVA_OPTS_KC_HEAP": f"-Xms64m -Xmx{self.settings.keycloak_heap}",
            },
        )

    def stop(self) -> bool:
        return self.process.stop(timeout=30)

    async def answers(self) -> bool:
        """Whether the insats realm answers with the issuer its tokens must carry."""
        issuer = self.settings.oidc_issuer
        try:
            async with httpx.AsyncClient(timeout=3.0) as client:
                response = await client.get(f"{issuer}/.well-known/openid-configuration")
            return response.status_code == 200 and response.json().get("issuer") == issuer
        except (httpx.HTTPError, ValueError):
            return False


def _unzip(archive: Path, target: Path) -> None:
    """zipfile drops the permissions a zip records; kc.sh must stay executable."""
    with zipfile.ZipFile(archive) as zipped:
        for member in zipped.infolist():
            path = Path(zipped.extract(member, target))
            mode = (member.external_attr >> 16) & 0o777
            if mode:
                path.chmod(mode)
