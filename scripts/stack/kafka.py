"""Apache Kafka from Maven Central, as a single-node KRaft broker on 127.0.0.1.

The jars come from `mvn dependency:copy-dependencies` on the pom.xml beside this file, into a
Maven repository inside the stack's home, so nothing outside the project's git-ignored folder is
touched. The storage is formatted once; afterwards the broker restarts on its existing data.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
import subprocess
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from scripts.stack.config import StackSettings
from scripts.stack.processes import ManagedProcess

POM = Path(__file__).with_name("pom.xml")
MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"
CLUSTER_ID = "insats-local-kraft-1"  # fixed: the local stack is one cluster, reformatted never


class LocalKafka:
    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.home = settings.home / "kafka"
        self.libs = self.home / "libs"
        self.data = self.home / "data"
        self.process = ManagedProcess("kafka", settings.run_dir)

    # --- install ---------------------------------------------------------------------------

    def installed(self) -> bool:
        marker = self.libs / ".pom-sha256"
        return marker.exists() and marker.read_text() == _digest(POM)

    def install(self) -> None:
        if self.installed():
            return
        for tool in ("java", "mvn"):
            if shutil.which(tool) is None:
                raise RuntimeError(f"{tool} is needed to install the local Kafka broker")
        if self.libs.exists():
            shutil.rmtree(self.libs)
        self.libs.mkdir(parents=True)
        subprocess.run(  # noqa: S603 - fixed argv
            [
                "mvn",
                "-q",
                "-B",
                "-f",
                str(POM),
                f"-Dmaven.repo.local={self.home / 'm2'}",
                "dependency:copy-dependencies",
                f"-DoutputDirectory={self.libs}",
            ],
            check=True,
        )
        (self.libs / ".pom-sha256").write_text(_digest(POM))

    # --- run -------------------------------------------------------------------------------

    def configure(self) -> Path:
        s = self.settings
        properties = self.home / "server.properties"
        properties.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"listeners=PLAINTEXT://{s.host}:{s.kafka_port},"
                    f"CONTROLLER://{s.host}:{s.kafka_controller_port},"
                    f"PARTNER://{s.host}:{s.kafka_sasl_port}",
                    f"advertised.listeners=PLAINTEXT://{s.host}:{s.kafka_port},"
                    f"PARTNER://{s.host}:{s.kafka_sasl_port}",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map="
                    "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,PARTNER:SASL_PLAINTEXT",
                    # Outside systems (partners, municipalities) connect on the PARTNER listener
                    # with SCRAM users and are held to their ACLs, as on a production cluster.
                    # The services and tests use the loopback PLAINTEXT listener, whose
                    # anonymous principal is a super user here (in production every service
                    # has its own KafkaUser; see deploy/k8s).
                    "sasl.enabled.mechanisms=SCRAM-SHA-512",
                    "listener.name.partner.scram-sha-512.sasl.jaas.config="
                    "org.apache.kafka.common.security.scram.ScramLoginModule required;",
                    "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                    "super.users=User:ANONYMOUS",
                    "allow.everyone.if.no.acl.found=false",
                    f"controller.quorum.bootstrap.servers={s.host}:{s.kafka_controller_port}",
                    f"log.dirs={self.data}",
                    "num.partitions=6",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=6",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "auto.create.topics.enable=false",
                    "log.retention.hours=168",
                    # Every 5 s rather than 5 min: a test proves on this broker that records
                    # past a short retention are deleted (a production broker's check runs at
                    # its own interval, which adds to the time a record may outlive its limit).
                    "log.retention.check.interval.ms=5000",
                    "log.segment.bytes=67108864",
                    "",
                ]
            )
        )
        log4j = self.home / "log4j2.properties"
        log4j.write_text(
            "\n".join(
                [
                    "status = warn",
                    "appender.console.type = Console",
                    "appender.console.name = STDOUT",
                    "appender.console.layout.type = PatternLayout",
                    "appender.console.layout.pattern = [%d] %p %m (%c)%n",
                    "rootLogger.level = info",
                    "rootLogger.appenderRef.stdout.ref = STDOUT",
                    "logger.kafka.name = kafka",
                    "logger.kafka.level = warn",
                    "logger.state.name = state.change.logger",
                    "logger.state.level = warn",
                    "logger.org.name = org.apache.kafka",
                    "logger.org.level = warn",
                    # "Failed authentication with /<address> (<reason>)": a client refused on the
                    # PARTNER listener, which the client alone would otherwise know about.
                    "logger.auth.name = org.apache.kafka.common.network.Selector",
                    "logger.auth.level = info",
                    "",
                ]
            )
        )
        if not (self.data / "meta.properties").exists():
            self.data.mkdir(parents=True, exist_ok=True)
            subprocess.run(  # noqa: S603 - fixed argv
                [
                    *self._java(),
                    STORAGE_TOOL,
                    "format",
                    "-t",
                    _cluster_uuid(),
                    "-c",
                    str(properties),
                    "--standalone",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        return properties

    def start(self) -> None:
        if self.process.running():
            return
        properties = self.configure()
        self.process.start([*self._java(), MAIN_CLASS, str(properties)])

    def _java(self) -> list[str]:
        return [
            "java",
            f"-Xmx{self.settings.kafka_heap}",
            "-Xms128m",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            "-cp",
            f"{self.libs}/*",
        ]

    def stop(self) -> bool:
        return self.process.stop(timeout=30)

    async def answers(self) -> bool:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.settings.bootstrap_servers, request_timeout_ms=3_000
        )
        # While the broker starts, aiokafka logs every refused connection as an error: expected.
        client_log = logging.getLogger("aiokafka")
        level = client_log.level
        client_log.setLevel(logging.CRITICAL)
        try:
            await asyncio.wait_for(admin.start(), timeout=5)
            await asyncio.wait_for(admin.list_topics(), timeout=5)
        except (KafkaError, OSError, TimeoutError):
            return False
        finally:
            await admin.close()
            client_log.setLevel(level)
        return True


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cluster_uuid() -> str:
    """Kafka wants a base64 UUID; derive it from a fixed name so it is stable."""
    import base64
    import uuid

    raw = uuid.uuid5(uuid.NAMESPACE_URL, CLUSTER_ID).bytes
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
