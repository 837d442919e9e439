"""kcat, the command-line route "Connect your system" documents, on the broker's PARTNER listener
(SASL/SCRAM-SHA-512, ACLs enforced): a municipality onboarded by the project's own code publishes
a referral with examples/municipal_publisher/publish_referral.sh (its credentials in a kcat -F
file), reads its own stream with kcat in a consumer group under its prefix, and is refused on
another municipality's topic.

kcat must be linked with librdkafka 2.6.1 or later. Older librdkafka (Debian 12's kcat links
2.0.2) puts the client nonce twice into SCRAM's client-final-message, `r=<client nonce><client
nonce><server nonce>`, where RFC 5802 wants the server-first-message's nonce once
(confluentinc/librdkafka#4895). Kafka 4's ScramSaslServer compares the two with equals() and
answers "invalid credentials", although the proof is right for the password. Where kcat's own
librdkafka is older, this runs the same kcat with a newer librdkafka.so.1: the file named by
INSATS_TEST_LIBRDKAFKA, or the one inside the confluent-kafka wheel when that is installed, and
first checks that the kcat as installed is refused with the same credentials, so that the
workaround goes when the distribution's kcat is fixed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from scripts.harness import Namespace, read_topic
from scripts.stack import Stack
from scripts.stack.access import SCRAM, Credentials, onboard
from shared.contracts.tenants import Channel, Tenant, inbound_topic
from shared.messaging.kafka import ensure_topics, tenant_topic_configs
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PUBLISH = ROOT / "examples" / "municipal_publisher" / "publish_referral.sh"
FIXED = (2, 6, 1)  # the first librdkafka that sends the SCRAM nonce once


@dataclass(frozen=True)
class Kcat:
    path: str
    env: dict[str, str]  # LD_LIBRARY_PATH, when it runs with another librdkafka than its own
    librdkafka: tuple[int, ...]

    def run(self, args: Sequence[str], *, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.path, *args],
            input=stdin,
            capture_output=True,
            text=True,
            env={**os.environ, **self.env},
            timeout=30,
            check=False,
        )


def _librdkafka(kcat: str, env: Mapping[str, str]) -> tuple[int, ...] | None:
    """The librdkafka version `kcat -V` reports: the one it loads with this environment."""
    shown = subprocess.run(
        [kcat, "-V"], capture_output=True, text=True, env=dict(env), timeout=10, check=False
    )
    found = re.search(r"librdkafka (\d+)\.(\d+)\.(\d+)", shown.stdout + shown.stderr)
    return tuple(int(part) for part in found.groups()) if found else None


def _other_librdkafkas() -> list[Path]:
    candidates = []
    if given := os.environ.get("INSATS_TEST_LIBRDKAFKA"):
        candidates.append(Path(given))
    spec = importlib.util.find_spec("confluent_kafka")
    if spec is not None and spec.submodule_search_locations:
        # A manylinux wheel keeps its own librdkafka beside the package, renamed by auditwheel.
        package = Path(next(iter(spec.submodule_search_locations)))
        candidates += sorted((package.parent / "confluent_kafka.libs").glob("librdkafka*.so*"))
    return candidates


@pytest.fixture(scope="module")
def system_kcat() -> Kcat:
    path = shutil.which("kcat")
    if path is None:
        pytest.skip("kcat is not installed (scripts/install_system_packages.sh installs it)")
    version = _librdkafka(path, os.environ)
    assert version is not None, "kcat -V names no librdkafka"
    return Kcat(path, {}, version)


@pytest.fixture(scope="module")
def kcat(system_kcat: Kcat, tmp_path_factory: pytest.TempPathFactory) -> Kcat:
    """kcat with a librdkafka that can log in with SCRAM to a Kafka 4 broker."""
    if system_kcat.librdkafka >= FIXED:
        return system_kcat
    for library in _other_librdkafkas():
        folder = tmp_path_factory.mktemp("librdkafka")
        (folder / "librdkafka.so.1").symlink_to(library.resolve())
        search = os.pathsep.join(filter(None, [str(folder), os.environ.get("LD_LIBRARY_PATH")]))
        env = {"LD_LIBRARY_PATH": search}
        version = _librdkafka(system_kcat.path, {**os.environ, **env})
        if version is not None and version >= FIXED:
            return Kcat(system_kcat.path, env, version)
    old = ".".join(map(str, system_kcat.librdkafka))
    pytest.fail(
        f"{system_kcat.path} is linked with librdkafka {old}, whose SCRAM login a Kafka 4 broker "
        "refuses; install confluent-kafka (its wheel carries a newer librdkafka) or set "
        "INSATS_TEST_LIBRDKAFKA to a librdkafka.so.1 of 2.6.1 or later"
    )


def _kommunkod(namespace: Namespace, offset: int = 0) -> str:
    """9xxx is no real municipality: a code of this run's own, so its Kafka user is too."""
    return f"9{(int(namespace.name[1:], 16) + offset) % 1000:03d}"


@dataclass(frozen=True)
class Onboarded:
    tenant: Tenant
    credentials: Credentials
    other: Tenant  # a municipality whose topics exist, whose user this one is not


@pytest.fixture
async def municipality(local_stack: Stack, settings: Settings, namespace: Namespace) -> Onboarded:
    tenant = Tenant.municipality(_kommunkod(namespace))
    other = Tenant.municipality(_kommunkod(namespace, 1))
    # As `insats municipality onboard` does: the tenant's topics, then its user and ACLs.
    await ensure_topics(
        settings,
        {**tenant_topic_configs(settings, tenant), **tenant_topic_configs(settings, other)},
    )
    credentials = onboard(local_stack.kafka, tenant, settings.topic_prefix)
    return Onboarded(tenant, credentials, other)


def _referral(folder: Path, kommunkod: str) -> Path:
    """A referral as a case system keeps it, pretty-printed: the script reads it line by line."""
    referral_id = f"{kommunkod}-kcat-1"
    path = folder / f"referral-{kommunkod}.json"
    envelope = {
        "specversion": "1.0",
        "id": "set-by-the-script",
        "type": "insats.referral.received.v1",
        "source": f"urn:kommun:{kommunkod}",
        "time": "2026-03-02T09:30:00+01:00",
        "subject": referral_id,
        "municipality": kommunkod,
        "datacontenttype": "application/json",
        "data": {"referral_id": referral_id, "municipality": kommunkod},
    }
    path.write_text(json.dumps(envelope, indent=2))
    return path


async def test_a_municipality_publishes_and_reads_with_kcat_over_scram(
    kcat: Kcat, system_kcat: Kcat, municipality: Onboarded, settings: Settings, tmp_path: Path
) -> None:
    credentials, tenant = municipality.credentials, municipality.tenant
    config = tmp_path / "kcat.conf"
    config.touch(mode=0o600)
    config.write_text(
        "security.protocol=SASL_PLAINTEXT\n"
        f"sasl.mechanisms={SCRAM}\n"
        f"sasl.username={credentials.username}\n"
        f"sasl.password={credentials.password}\n"
    )
    own = ("-b", credentials.bootstrap_servers, "-F", str(config))

    # 0. The kcat of the distribution, where its librdkafka is older than 2.6.1, is refused at
    # login with the same credentials and the same file: its nonce, not the password, is wrong.
    # When this fails, the distribution's kcat is fixed and the workaround above can go.
    if system_kcat.librdkafka < FIXED:
        old = system_kcat.run(["-P", *own, "-t", settings.topic(tenant.writes()[0])], stdin="x\n")
        assert old.returncode != 0
        assert "Authentication failed during authentication due to invalid credentials" in (
            old.stderr
        )

    # Exactly what `insats municipality onboard` prints, as the script's README has it.
    script_env = {
        **credentials.environment(),
        **kcat.env,
        "TOPIC_PREFIX": settings.topic_prefix,
        "KCAT": kcat.path,
        "WAIT_SECONDS": "0",
    }

    def publish(referral: Path, event_id: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(PUBLISH), str(referral)],
            capture_output=True,
            text=True,
            env={**os.environ, **script_env, "EVENT_ID": event_id},
            timeout=60,
            check=False,
        )

    # 1. The script publishes to the municipality's own referral topic, over SCRAM from -F.
    event_id = f"kcat-{secrets.token_hex(8)}"
    published = publish(_referral(tmp_path, tenant.id), event_id)
    assert published.returncode == 0, published.stderr
    assert "warning" not in published.stderr, published.stderr
    records = await read_topic(settings, inbound_topic(tenant, Channel.REFERRALS))
    assert [
        (key, json.loads(value)["id"], headers["ce_id"]) for key, value, headers in records
    ] == [(f"{tenant.id}-kcat-1".encode(), event_id, event_id.encode())]

    # 2. kcat reads the municipality's own stream in a consumer group under its prefix.
    stream = settings.topic(tenant.answers_topic())
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await producer.start()
    try:  # Insats's side, on the services' listener
        await producer.send_and_wait(stream, b'{"answer": "for kcat"}', key=b"p-1")
    finally:
        await producer.stop()
    read = kcat.run(
        [
            *own,
            *("-G", f"{credentials.group_prefix}kcat-test", "-X", "auto.offset.reset=earliest"),
            *("-X", "enable.auto.commit=false", "-e", "-q", "-f", "%k %s\\n", stream),
        ]
    )
    assert read.returncode == 0, read.stderr
    assert read.stdout.splitlines() == ['p-1 {"answer": "for kcat"}'], read.stderr

    # 3. Publishing as another municipality: the broker refuses the write to its topic.
    refused = publish(_referral(tmp_path, municipality.other.id), f"kcat-{secrets.token_hex(8)}")
    assert refused.returncode != 0
    assert "Topic authorization failed" in refused.stderr, refused.stderr
    assert await read_topic(settings, inbound_topic(municipality.other, Channel.REFERRALS)) == []
