"""A tenant on Kubernetes: `insats tenant manifest KIND ID` writes its kustomize Component under
deploy/k8s/base/kafka/tenants/<username>/, what `insats <kind> onboard` does on the local stack.

The Component holds the tenant's KafkaTopics (each inbound topic it alone writes, configured as
inbound_topic_config creates it, and its own stream), its KafkaUser with literal ACLs on exactly
those topics, and the patches that give the services' KafkaUsers Read on the tenant's topics of
the channels they subscribe to and Write on its stream, and the gateway's KafkaUser Write on the
tenant's inbound topics (it publishes the tenant's requests there) and Read on its stream. Those
grants are derived from the services and the tenant model themselves, as
scripts/validate_manifests.py derives what it checks, so a component generated here passes the
validator, and one generated again after a change of the code follows the code. Nothing of the
machine's INSATS_* environment reaches the output (ExplicitSettings).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final

import typer

from shared.contracts.tenants import Channel, InvalidTenant, Tenant, TenantKind, tenant_of_topic
from shared.messaging.kafka import inbound_topic_config
from shared.reference import municipalities
from shared.settings import ExplicitSettings, Settings

ROOT: Final = Path(__file__).resolve().parents[1]
TENANTS: Final = ROOT / "deploy" / "k8s" / "base" / "kafka" / "tenants"
CLUSTER: Final = "insats"  # the Kafka resource of deploy/k8s/base/kafka/cluster.yaml
# As every topic of deploy/k8s/base/kafka/topics.yaml; the dev overlay shrinks them all.
PARTITIONS: Final = 6
REPLICAS: Final = 3
MIN_INSYNC_REPLICAS: Final = 2
_DAY_MS: Final = 24 * 3_600_000
# Retention where inbound_topic_config leaves it to the deployment (it sets the referrals').
RETENTION_MS: Final[dict[Channel, int]] = {
    Channel.PROGRAMMES: -1,
    Channel.PARTNERS: -1,
    Channel.OUTCOME_REPORTS: 30 * _DAY_MS,
    Channel.PLACEMENT_REPORTS: 30 * _DAY_MS,
}
STREAM_RETENTION_MS: Final = 30 * _DAY_MS
# Why each channel keeps what it keeps, for the comment above its topic.
WHY_RETENTION: Final[dict[Channel, str]] = {
    Channel.REFERRALS: (
        "Clear personnummer: readable by intake alone, kept {hours} hours (long enough to ride"
        " out an intake outage over a weekend), in segments that roll hourly so that a quiet"
        " topic's last records expire on time too. The case system stays the record of the"
        " referral."
    ),
    Channel.PROGRAMMES: (
        "No personal data. Kept forever: a consumer group that starts later (a new service, a"
        " rebuilt read model) must see every programme from the beginning."
    ),
    Channel.PARTNERS: "Organisations, no personal data: kept forever, as programmes.",
    Channel.OUTCOME_REPORTS: (
        "About pseudonymous participants. 30 days covers any outage of outcomes; the state"
        " lives in the services' databases, not on the topic."
    ),
    Channel.PLACEMENT_REPORTS: (
        "About pseudonymous participants. 30 days covers any outage of placement; the state"
        " lives in the services' databases, not on the topic."
    ),
}
# An outside system shares the brokers with the platform: what it may take of them.
QUOTAS: Final[dict[TenantKind, dict[str, int]]] = {
    TenantKind.MUNICIPALITY: {
        "producerByteRate": 1_048_576,
        "consumerByteRate": 1_048_576,
        "requestPercentage": 25,
    },
    TenantKind.OWNER: {
        "producerByteRate": 1_048_576,
        "consumerByteRate": 1_048_576,
        "requestPercentage": 25,
    },
    TenantKind.PARTNER: {
        "producerByteRate": 1_048_576,
        "consumerByteRate": 2_097_152,
        "requestPercentage": 25,
    },
}
_KUBERNETES_NAME: Final = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)


class NotDeployable(ValueError):
    """A valid tenant that cannot be deployed as a Component."""


@dataclass(frozen=True)
class Grants:
    """What one service's KafkaUser (or the gateway's) needs of a tenant's topics, and the
    operations each ACL names."""

    service: str
    read: tuple[str, ...]
    write: tuple[str, ...]
    read_operations: tuple[str, ...] = ("Read",)
    write_operations: tuple[str, ...] = ("Write",)


@dataclass(frozen=True)
class Component:
    tenant: Tenant
    files: dict[str, str]  # file name -> content

    @property
    def folder(self) -> str:
        return self.tenant.username

    def write(self, parent: Path) -> list[Path]:
        folder = parent / self.folder
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name, text in self.files.items():
            path = folder / name
            path.write_text(text, encoding="utf-8")
            written.append(path)
        return written


def render(tenant: Tenant, settings: Settings | None = None) -> Component:
    """The tenant's Component: kustomization.yaml (its patches of the services' users) and
    tenant.yaml (its topics and its user)."""
    settings = settings or ExplicitSettings()
    _check_deployable(tenant, settings)
    topics = _topic_documents(tenant, settings)
    grants = [*service_grants(tenant, settings, topics), gateway_grants(tenant, settings)]
    return Component(
        tenant,
        {
            "kustomization.yaml": _kustomization(tenant, grants),
            "tenant.yaml": _tenant_yaml(tenant, settings, topics),
        },
    )


def _check_deployable(tenant: Tenant, settings: Settings) -> None:
    if tenant.kommunkod is not None and tenant.kommunkod not in municipalities():
        raise NotDeployable(
            f"{tenant.kommunkod} is no kommunkod of Statistics Sweden's: intake refuses the "
            "referrals of a municipality it does not know"
        )
    # Strimzi names the Kafka user after its resource, and the topics are named after theirs.
    names = [
        tenant.username,
        *(settings.topic(t) for t in (*tenant.writes(), tenant.answers_topic())),
    ]
    for name in names:
        if len(name) > 253 or not _KUBERNETES_NAME.match(name):
            raise NotDeployable(
                f"{name} is not a Kubernetes resource name (lower-case letters, digits, '-' and "
                "'.', each part starting and ending with a letter or digit)"
            )


def _number_or_text(value: str) -> int | str:
    return int(value) if re.fullmatch(r"-?[0-9]+", value) else value


def _topic_documents(tenant: Tenant, settings: Settings) -> list[dict[str, Any]]:
    documents = []
    for topic in tenant.writes():
        owned = tenant_of_topic(topic)
        assert owned is not None
        channel = owned[1]
        config: dict[str, int | str] = {"cleanup.policy": "delete"}
        if channel in RETENTION_MS:
            config["retention.ms"] = RETENTION_MS[channel]
        config |= {
            k: _number_or_text(v) for k, v in inbound_topic_config(settings, channel).items()
        }
        config["min.insync.replicas"] = MIN_INSYNC_REPLICAS
        documents.append(_topic_document(settings.topic(topic), config))
    stream: dict[str, int | str] = {
        "cleanup.policy": "delete",
        "retention.ms": STREAM_RETENTION_MS,
        "min.insync.replicas": MIN_INSYNC_REPLICAS,
    }
    documents.append(_topic_document(settings.topic(tenant.answers_topic()), stream))
    return documents


def _topic_document(name: str, config: dict[str, int | str]) -> dict[str, Any]:
    return {
        "apiVersion": "kafka.strimzi.io/v1beta2",
        "kind": "KafkaTopic",
        "metadata": {"name": name, "labels": {"strimzi.io/cluster": CLUSTER}},
        "spec": {"partitions": PARTITIONS, "replicas": REPLICAS, "config": config},
    }


def _service_settings(settings: Settings) -> Settings:
    """The services as a Deployment of the base runs them: every secret provided, the topics
    named as here."""
    from scripts.validate_manifests import Environment, secret_settings, settings_of

    env = Environment()
    for variable in sorted(secret_settings()):
        env.set_secret(variable, "provided-by-the-cluster", "value")
    env.set_value("INSATS_TOPIC_PREFIX", settings.topic_prefix)
    return settings_of(env)


def service_grants(
    tenant: Tenant, settings: Settings, topics: list[dict[str, Any]] | None = None
) -> list[Grants]:
    """What each service's code reads and writes of the tenant's topics, in service order."""
    from scripts.validate_manifests import Manifests, service_needs
    from shared.services import SERVICES

    manifests = Manifests(topics if topics is not None else _topic_documents(tenant, settings))
    running = _service_settings(settings)
    found = []
    for service in SERVICES:
        needs = service_needs(service, running, manifests)
        own = set(manifests.topic_names())
        grants = Grants(
            service, tuple(sorted(needs.reads & own)), tuple(sorted(needs.writes & own))
        )
        if grants.read or grants.write:
            found.append(grants)
    return found


def gateway_grants(tenant: Tenant, settings: Settings) -> Grants:
    """What the gateway needs of the tenant's topics: every inbound topic (the tenant's requests
    go to its topic of their channel) and its stream (the portal's feed), with Describe named
    beside them as on the tenant's own user, so the two users' grants read alike."""
    from scripts.validate_manifests import (
        GATEWAY,
        GATEWAY_READ_OPERATIONS,
        GATEWAY_WRITE_OPERATIONS,
        gateway_needs,
    )

    needs = gateway_needs([tenant], settings)
    return Grants(
        GATEWAY,
        read=tuple(needs.reads),
        write=tuple(needs.writes),
        read_operations=GATEWAY_READ_OPERATIONS,
        write_operations=GATEWAY_WRITE_OPERATIONS,
    )


# --- rendering: by hand, so that the files carry their comments --------------------------------


def _scalar(value: int | str) -> str:
    if isinstance(value, int):
        return str(value)
    return value if re.fullmatch(r"[A-Za-z][A-Za-z0-9._-]*", value) else json.dumps(value)


def _comment(text: str, indent: str = "") -> list[str]:
    lines: list[str] = []
    line = ""
    for word in text.split():
        if line and len(indent) + 2 + len(line) + 1 + len(word) > 100:
            lines.append(f"{indent}# {line}")
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        lines.append(f"{indent}# {line}")
    return lines


def _generated_by(tenant: Tenant) -> str:
    return (
        f"Generated by `insats tenant manifest {tenant.kind.value} {tenant.id}`"
        " (scripts/deploy_tenant.py) from the tenant model of shared/contracts/tenants.py:"
        " generate it again rather than edit it, or tests/unit/test_deploy_tenant.py fails."
    )


def _who(tenant: Tenant) -> str:
    if tenant.kommunkod is not None:
        return (
            f"{municipalities()[tenant.kommunkod]} (kommunkod {tenant.kommunkod}), a municipality"
        )
    if tenant.kind is TenantKind.OWNER:
        return f"{tenant.id}, a programme owner (an association of municipalities)"
    return f"{tenant.id}, a partner"


def _kustomization(tenant: Tenant, grants: list[Grants]) -> str:
    lines = [
        *_comment(f"{_who(tenant)}, as a kustomize Component. {_generated_by(tenant)}"),
        *_comment(
            "The services' grants on this tenant's topics come with it, so that onboarding a"
            " tenant never widens kafka/users.yaml and removing the Component takes them away."
            " They read its topics of the channels they subscribe to (services/*/app.py) and"
            " answer it on its own stream. Apply it before the tenant sends its first record or"
            " is registered by another (a partner by the municipality that vets it): the"
            " services publish to its stream from then on, and Strimzi, not the services,"
            " creates topics."
        ),
        *_comment(
            "The gateway's grants too: it publishes the tenant's HTTP requests on the tenant's"
            " inbound topics and reads its stream, each named literally, so it can speak for no"
            " tenant whose Component is not applied."
        ),
        "apiVersion: kustomize.config.k8s.io/v1alpha1",
        "kind: Component",
        "",
        "resources:",
        "  - tenant.yaml",
    ]
    if grants:
        lines += ["", "patches:"]
    for grant in grants:
        lines += [
            "  - target:",
            "      group: kafka.strimzi.io",
            "      kind: KafkaUser",
            f"      name: insats-{grant.service}",
            "    patch: |-",
        ]
        for operations, names in (
            (grant.read_operations, grant.read),
            (grant.write_operations, grant.write),
        ):
            listed = ", ".join(f'"{op}"' for op in operations)
            for name in names:
                lines += [
                    "      - op: add",
                    "        path: /spec/authorization/acls/-",
                    "        value:",
                    "          resource:",
                    "            type: topic",
                    f"            name: {name}",
                    "            patternType: literal",
                    f"          operations: [{listed}]",
                ]
    return "\n".join(lines) + "\n"


def _acl(lines: list[str], kind: str, name: str, pattern: str, operations: tuple[str, ...]) -> None:
    listed = ", ".join(f'"{op}"' for op in operations)
    lines += [
        "      - resource:",
        f"          type: {kind}",
        f"          name: {name}",
        f"          patternType: {pattern}",
        f"        operations: [{listed}]",
    ]


def _tenant_yaml(tenant: Tenant, settings: Settings, topics: list[dict[str, Any]]) -> str:
    stream = settings.topic(tenant.answers_topic())
    lines = [
        *_comment(f"{_who(tenant)}: its topics and its Kafka user. {_generated_by(tenant)}"),
        *_comment(
            "Its inbound topics are configured as inbound_topic_config (shared/messaging/kafka.py)"
            " configures them wherever they are created: the broker, not the sender, stamps each"
            " record's time (intake dates a referral's receipt by it), and refuses a record"
            " larger than INSATS_INBOUND_MAX_MESSAGE_BYTES before any service reads it."
        ),
        "apiVersion: kafka.strimzi.io/v1beta2",
        "kind: KafkaUser",
        "metadata:",
        f"  name: {tenant.username}",
        "  labels:",
        f"    strimzi.io/cluster: {CLUSTER}",
        f"    insats/tenant-kind: {tenant.kind.value}",
        "spec:",
        "  authentication:",
        "    type: scram-sha-512",
        "  authorization:",
        "    type: simple",
        *_comment(
            "Literal topic names only: the topic a record arrived on is how the services know"
            " who sent it, so this user may write no topic but its own and no other user may"
            f" write these. It names its consumer groups {tenant.username}.<anything>."
            f" The User Operator writes its password into the Secret {tenant.username}.",
            "    ",
        ),
        "    acls:",
    ]
    for topic in tenant.writes():
        _acl(lines, "topic", settings.topic(topic), "literal", ("Write", "Describe"))
    _acl(lines, "topic", stream, "literal", ("Read", "Describe"))
    _acl(lines, "group", f"{tenant.username}.", "prefix", ("Read",))
    lines += _comment(
        "An outside system shares the brokers with the platform: cap what it can take.", "  "
    )
    lines.append("  quotas:")
    lines += [f"    {key}: {value}" for key, value in QUOTAS[tenant.kind].items()]
    for document in topics:
        name = document["metadata"]["name"]
        owned = tenant_of_topic(name[len(settings.topic_prefix) :])
        why = (
            WHY_RETENTION[owned[1]].format(hours=settings.referral_retention_hours)
            if owned is not None
            else "Its own stream, which it alone reads: 30 days covers an outage of its"
            " systems, which keep their own copy."
        )
        lines += ["---", *_comment(why)]
        lines += [
            "apiVersion: kafka.strimzi.io/v1beta2",
            "kind: KafkaTopic",
            "metadata:",
            f"  name: {name}",
            "  labels:",
            f"    strimzi.io/cluster: {CLUSTER}",
            "spec:",
            f"  partitions: {document['spec']['partitions']}",
            f"  replicas: {document['spec']['replicas']}",
            "  config:",
            *(f"    {key}: {_scalar(value)}" for key, value in document["spec"]["config"].items()),
        ]
    return "\n".join(lines) + "\n"


# --- the command --------------------------------------------------------------------------------

tenant_app = typer.Typer(help="A tenant's Kubernetes manifests (deploy/k8s/base/kafka/tenants).")


@tenant_app.command("manifest")
def manifest(
    kind: Annotated[
        TenantKind, typer.Argument(metavar="KIND", help="municipality, owner or partner")
    ],
    ident: Annotated[
        str, typer.Argument(metavar="ID", help="The kommunkod, or the owner's or partner's id")
    ],
    out: Annotated[
        Path, typer.Option(help="Where the tenants' Components are; this one goes in OUT/<user>.")
    ] = TENANTS,
) -> None:
    """Write the tenant's kustomize Component: its topics, its Kafka user, the services' and the
    gateway's grants."""
    try:
        component = render(Tenant(kind, ident))
    except (InvalidTenant, NotDeployable) as problem:
        raise typer.BadParameter(str(problem)) from None
    for path in component.write(out):
        typer.echo(f"wrote {path}")
    typer.echo(
        f"list it under `components` in deploy/k8s/base/kustomization.yaml "
        f"(kafka/tenants/{component.folder}), then: .venv/bin/python -m scripts.validate_manifests"
    )
