"""Where the local stack lives and which ports it uses (INSATS_STACK_*)."""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# The identity provider's realm: its issuer URL is the one thing a gateway is configured with.
KEYCLOAK_REALM: Final = "insats"


class StackSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INSATS_STACK_", extra="ignore", frozen=True)

    home: Path = Field(default_factory=lambda: Path(".local/stack").resolve())
    host: str = "127.0.0.1"
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    kafka_sasl_port: int = 9094
    kafka_heap: str = "512m"
    mongo_port: int = 27017
    secantus_version: str = "0.7.0b3"
    # The Rust build of the same server (crates.io), several times faster; python falls back.
    database_server: Literal["rust", "python"] = "rust"
    secantus_rs_version: str = "0.5.3-beta.196"
    mongo_cache_size: str = "1G"
    # How often secantusd-rs deletes what TTL indexes have expired (its default, as MongoDB's
    # TTL monitor, is a minute): the local stack sweeps sooner, so a test of expiry waits
    # seconds, not a minute. The same deletion, only more often.
    mongo_ttl_sweep_seconds: float = Field(default=5.0, gt=0, le=3_600)
    # The OIDC identity provider (Keycloak) whose tokens name a tenant; false leaves it out.
    identity_provider: bool = True
    keycloak_port: int = 8180
    keycloak_version: str = "26.4.0"
    keycloak_heap: str = "512m"

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.kafka_port}"

    @property
    def sasl_bootstrap_servers(self) -> str:
        return f"{self.host}:{self.kafka_sasl_port}"

    @property
    def mongodb_url(self) -> str:
        return f"mongodb://{self.host}:{self.mongo_port}/?directConnection=true"

    @property
    def oidc_issuer(self) -> str:
        return f"http://{self.host}:{self.keycloak_port}/realms/{KEYCLOAK_REALM}"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"
