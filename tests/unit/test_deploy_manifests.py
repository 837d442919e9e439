"""The deployment, checked without a cluster or a Docker engine: every kustomize overlay builds
and passes scripts/validate_manifests.py, each rule of the validator does catch what it guards,
and the compose file and the Dockerfile keep their promises."""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.validate_manifests import (
    OVERLAYS,
    Document,
    Problem,
    build,
    crd_problems,
    external_secrets,
    overlays,
    validate,
)
from shared.contracts import topics
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
HOURS_72 = 72 * 3_600_000


@functools.cache
def _build(overlay: str) -> tuple[Document, ...]:
    return tuple(build(OVERLAYS / overlay))


def built(overlay: str) -> list[Document]:
    """A fresh copy of the overlay's build, safe to break."""
    return copy.deepcopy(list(_build(overlay)))


def find(documents: list[Document], kind: str, name: str) -> Document:
    return next(d for d in documents if d["kind"] == kind and d["metadata"]["name"] == name)


def container(documents: list[Document], service: str) -> dict[str, Any]:
    deployment = find(documents, "Deployment", f"insats-{service}")
    found: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return found


def report(problems: list[Problem]) -> str:
    return "\n".join(str(p) for p in problems)


# --- the overlays as committed ---------------------------------------------------------------


def test_there_is_a_dev_and_a_prod_overlay() -> None:
    assert {path.name for path in overlays()} >= {"dev", "prod"}


@pytest.mark.parametrize("overlay", [path.name for path in overlays()])
def test_every_overlay_passes_schemas_and_policy(overlay: str) -> None:
    problems = validate(built(overlay))
    assert problems == [], report(problems)


def test_prod_commits_no_secret_and_names_the_ones_to_create() -> None:
    documents = built("prod")
    assert [d for d in documents if d["kind"] == "Secret"] == []
    assert external_secrets(documents) == [
        ("insats-intake-keys", "identity-master-key"),
        ("insats-intake-keys", "pseudonym-key"),
        ("insats-intake-mongodb-password", "password"),
        ("insats-outcomes-mongodb-password", "password"),
        ("insats-placement-mongodb-password", "password"),
    ]


def test_dev_starts_without_any_secret_made_by_hand() -> None:
    documents = built("dev")
    assert external_secrets(documents) == []
    for secret in (d for d in documents if d["kind"] == "Secret"):
        assert secret["metadata"]["annotations"]["insats/dummy-values"] == "true"


def test_prod_topics_survive_the_loss_of_a_broker() -> None:
    kafka_topics = [d for d in built("prod") if d["kind"] == "KafkaTopic"]
    assert kafka_topics
    for topic in kafka_topics:
        assert topic["spec"]["replicas"] == 3, topic["metadata"]["name"]
        assert topic["spec"]["config"]["min.insync.replicas"] == 2, topic["metadata"]["name"]


def test_every_topic_of_the_contract_is_a_kafka_topic_in_every_overlay() -> None:
    wanted = {
        *topics.ALL_TOPICS,
        *(topics.dead_letter_topic(s) for s in ("intake", "placement", "outcomes")),
    }
    for overlay in overlays():
        names = {d["metadata"]["name"] for d in built(overlay.name) if d["kind"] == "KafkaTopic"}
        assert wanted <= names, (overlay.name, sorted(wanted - names))


def test_clear_identities_are_kept_72_hours_and_other_dead_letters_longer() -> None:
    documents = built("prod")

    def retention(name: str) -> int:
        value: int = find(documents, "KafkaTopic", name)["spec"]["config"]["retention.ms"]
        return value

    assert retention(topics.MUNICIPAL_REFERRALS) == HOURS_72
    assert retention(topics.dead_letter_topic("intake")) == HOURS_72
    assert retention(topics.dead_letter_topic("placement")) > HOURS_72
    assert retention(topics.dead_letter_topic("outcomes")) > HOURS_72


def test_the_example_partner_reads_its_own_topic_only() -> None:
    user = find(built("prod"), "KafkaUser", "partner-erikshjalpen-kungsbacka")
    grants = {
        (acl["resource"]["type"], acl["resource"]["name"], op)
        for acl in user["spec"]["authorization"]["acls"]
        for op in acl["operations"]
    }
    assert grants == {
        ("topic", "insats.partner.erikshjalpen-kungsbacka.placements", "Read"),
        ("group", "partner-erikshjalpen-kungsbacka.", "Read"),
        ("topic", topics.PARTNER_REPORTS, "Write"),
    }


# --- each rule catches what it guards ---------------------------------------------------------

Breakage = Callable[[list[Document]], None]


def _without_limits(documents: list[Document]) -> None:
    del container(documents, "intake")["resources"]["limits"]


def _without_readiness_probe(documents: list[Document]) -> None:
    del container(documents, "placement")["readinessProbe"]


def _partitions_as_text(documents: list[Document]) -> None:
    find(documents, "KafkaTopic", topics.MUNICIPAL_REFERRALS)["spec"]["partitions"] = "six"


def _unknown_field_in_custom_resource(documents: list[Document]) -> None:
    find(documents, "KafkaTopic", topics.INTAKE_EVENTS)["spec"]["partition"] = 3


def _replica_set_without_users(documents: list[Document]) -> None:
    del find(documents, "MongoDBCommunity", "insats-mongodb")["spec"]["users"]


def _misspelt_probe(documents: list[Document]) -> None:
    target = container(documents, "outcomes")
    target["readinesProbe"] = target.pop("readinessProbe")


def _pseudonym_key_in_plain_text(documents: list[Document]) -> None:
    for item in container(documents, "intake")["env"]:
        if item["name"] == "INSATS_PSEUDONYM_KEY":
            item.pop("valueFrom")
            item["value"] = "a-real-key"


def _identity_key_missing(documents: list[Document]) -> None:
    env = container(documents, "intake")["env"]
    env[:] = [item for item in env if item["name"] != "INSATS_IDENTITY_MASTER_KEY"]


def _grace_period_too_short(documents: list[Document]) -> None:
    deployment = find(documents, "Deployment", "insats-placement")
    deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 20


def _autoscaler_beyond_partitions(documents: list[Document]) -> None:
    find(documents, "HorizontalPodAutoscaler", "insats-outcomes")["spec"]["maxReplicas"] = 4


def _no_disruption_budget(documents: list[Document]) -> None:
    documents.remove(find(documents, "PodDisruptionBudget", "insats-intake"))


def _root_filesystem_writable(documents: list[Document]) -> None:
    container(documents, "intake")["securityContext"]["readOnlyRootFilesystem"] = False


def _capabilities_kept(documents: list[Document]) -> None:
    container(documents, "outcomes")["securityContext"]["capabilities"]["drop"] = []


def _partner_reads_referrals(documents: list[Document]) -> None:
    user = find(documents, "KafkaUser", "partner-erikshjalpen-kungsbacka")
    user["spec"]["authorization"]["acls"].append(
        {"resource": {"type": "topic", "name": "insats.municipal."}, "operations": ["All"]}
    )
    user["spec"]["authorization"]["acls"][-1]["resource"]["patternType"] = "prefix"


def _service_user_misses_a_subscription(documents: list[Document]) -> None:
    acls = find(documents, "KafkaUser", "insats-outcomes")["spec"]["authorization"]["acls"]
    acls[:] = [a for a in acls if a["resource"].get("name") != topics.MUNICIPAL_PARTNERS]


def _service_user_may_create_topics(documents: list[Document]) -> None:
    acls = find(documents, "KafkaUser", "insats-placement")["spec"]["authorization"]["acls"]
    acls.append({"resource": {"type": "topic", "name": "*"}, "operations": ["Create"]})


def _referrals_kept_a_month(documents: list[Document]) -> None:
    topic = find(documents, "KafkaTopic", topics.MUNICIPAL_REFERRALS)
    topic["spec"]["config"]["retention.ms"] = 30 * 24 * 3_600_000


def _real_secret_committed(documents: list[Document]) -> None:
    del find(documents, "Secret", "insats-intake-keys")["metadata"]["annotations"]


def _topics_created_by_the_service(documents: list[Document]) -> None:
    config = next(d for d in documents if d["kind"] == "ConfigMap")
    config["data"]["INSATS_CREATE_TOPICS"] = "true"


BREAKAGES: dict[str, tuple[Breakage, str, str]] = {
    "container without limits": (
        _without_limits,
        "Deployment/insats-intake",
        "container intake: no resources.limits.memory",
    ),
    "deployment missing a probe": (
        _without_readiness_probe,
        "Deployment/insats-placement",
        "container placement: no readinessProbe",
    ),
    "KafkaTopic with a wrong type": (
        _partitions_as_text,
        f"KafkaTopic/{topics.MUNICIPAL_REFERRALS}",
        "schema: spec.partitions: 'six' is not of type 'integer'",
    ),
    "unknown field in a custom resource": (
        _unknown_field_in_custom_resource,
        f"KafkaTopic/{topics.INTAKE_EVENTS}",
        "'partition' was unexpected",
    ),
    "custom resource without a required field": (
        _replica_set_without_users,
        "MongoDBCommunity/insats-mongodb",
        "'users' is a required property",
    ),
    "misspelt field in a built-in kind": (
        _misspelt_probe,
        "Deployment/insats-outcomes",
        "'readinesProbe' was unexpected",
    ),
    "secret in plain text": (
        _pseudonym_key_in_plain_text,
        "Deployment/insats-intake",
        "INSATS_PSEUDONYM_KEY is a plain-text value",
    ),
    "required secret not provided": (
        _identity_key_missing,
        "Deployment/insats-intake",
        "intake would not start: INSATS_IDENTITY_MASTER_KEY must be set",
    ),
    "grace period not above the service's": (
        _grace_period_too_short,
        "Deployment/insats-placement",
        "terminationGracePeriodSeconds 20 must exceed INSATS_SHUTDOWN_GRACE_SECONDS 20",
    ),
    "autoscaler wider than the partitions": (
        _autoscaler_beyond_partitions,
        "HorizontalPodAutoscaler/insats-outcomes",
        "maxReplicas 4 exceeds the 3 partitions",
    ),
    "no disruption budget": (
        _no_disruption_budget,
        "Deployment/insats-intake",
        "no PodDisruptionBudget selects its pods",
    ),
    "writable root filesystem": (
        _root_filesystem_writable,
        "Deployment/insats-intake",
        "readOnlyRootFilesystem is not true",
    ),
    "capabilities kept": (
        _capabilities_kept,
        "Deployment/insats-outcomes",
        "capabilities.drop does not include ALL",
    ),
    "a partner able to read referrals": (
        _partner_reads_referrals,
        "KafkaUser/partner-erikshjalpen-kungsbacka",
        f"may read {topics.MUNICIPAL_REFERRALS}, which only intake may read",
    ),
    "a subscription in the code the Kafka user lacks": (
        _service_user_misses_a_subscription,
        "KafkaUser/insats-outcomes",
        f"cannot Read topic {topics.MUNICIPAL_PARTNERS}, which outcomes consumes",
    ),
    "a service user with more rights than its code needs": (
        _service_user_may_create_topics,
        "KafkaUser/insats-placement",
        "grants Create on topic *",
    ),
    "clear identities kept too long": (
        _referrals_kept_a_month,
        f"KafkaTopic/{topics.MUNICIPAL_REFERRALS}",
        "holds clear personnummer",
    ),
    "a real secret committed": (
        _real_secret_committed,
        "Secret/insats-intake-keys",
        "must hold dummy values only",
    ),
    "services creating topics Strimzi owns": (
        _topics_created_by_the_service,
        "Deployment/insats-intake",
        "INSATS_CREATE_TOPICS must be false",
    ),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_the_validator_reports_a_broken_manifest(breakage: str) -> None:
    break_it, resource, expected = BREAKAGES[breakage]
    documents = built("dev")
    break_it(documents)
    problems = validate(documents)
    assert any(p.resource == resource and expected in p.message for p in problems), report(problems)


# --- the operators' own CRDs ------------------------------------------------------------------


def test_strimzi_resources_are_checked_against_strimzis_own_crds() -> None:
    documents = built("prod")
    kafka = find(documents, "Kafka", "insats")
    kafka["spec"]["kafka"]["listeners"][0]["type"] = "headless"
    topic = find(documents, "KafkaTopic", topics.INTAKE_EVENTS)
    topic["spec"]["partitions"] = "three"
    user = find(documents, "KafkaUser", "insats-intake")
    user["spec"]["authorization"]["acls"][0]["operations"] = ["Reed"]
    problems = {(p.resource, p.message.split(": must")[0]) for p in crd_problems(documents)}
    assert problems == {
        ("Kafka/insats", "Strimzi CRD: spec.kafka.listeners.0.type"),
        (f"KafkaTopic/{topics.INTAKE_EVENTS}", "Strimzi CRD: spec.partitions"),
        ("KafkaUser/insats-intake", "Strimzi CRD: spec.authorization.acls.0.operations.0"),
    }


def test_the_replica_set_is_checked_against_the_operators_crd() -> None:
    documents = built("prod")
    replica_set = next(d for d in documents if d["kind"] == "MongoDBCommunity")
    replica_set["spec"]["type"] = "Sharded"
    replica_set["spec"]["members"] = "3"
    messages = sorted(p.message for p in crd_problems(documents))
    assert messages == [
        "CRD: spec.members: '3' is not of type 'integer'",
        "CRD: spec.type: 'Sharded' is not one of ['ReplicaSet']",
    ]


# --- compose and the image ---------------------------------------------------------------------

SERVICES = ("intake", "placement", "outcomes")


@functools.cache
def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def test_compose_runs_the_broker_the_database_the_services_and_a_demo() -> None:
    services = _compose()["services"]
    assert set(services) == {"kafka", "mongo", "mongo-init", *SERVICES, "demo"}
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert services["mongo"]["image"] == "mongo:8.0"
    assert "--replSet" in services["mongo"]["command"]
    assert "rs.initiate" in services["mongo-init"]["command"][0]


def test_compose_services_start_in_order_and_report_health() -> None:
    services = _compose()["services"]
    for name in ("kafka", "mongo", *SERVICES):
        assert services[name]["healthcheck"]["test"], name
    assert services["mongo-init"]["depends_on"]["mongo"]["condition"] == "service_healthy"
    for name in SERVICES:
        service = services[name]
        assert service["command"] == ["run", name]
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        assert service["depends_on"]["kafka"]["condition"] == "service_healthy"
        assert service["depends_on"]["mongo-init"]["condition"] == "service_completed_successfully"
        assert "/health/ready" in " ".join(service["healthcheck"]["test"])
        assert service["environment"]["INSATS_HTTP_HOST"] == "0.0.0.0"
        assert service["read_only"] is True
    demo = services["demo"]
    assert {dep: c["condition"] for dep, c in demo["depends_on"].items()} == dict.fromkeys(
        SERVICES, "service_healthy"
    )
    mounted = demo["volumes"][0].split(":")[0]
    assert (DEPLOY / mounted).is_file()


def test_compose_lets_a_stopping_service_drain() -> None:
    grace = Settings.model_fields["shutdown_grace_seconds"].default
    for name in SERVICES:
        service = _compose()["services"][name]
        assert float(service["environment"]["INSATS_SHUTDOWN_GRACE_SECONDS"]) == grace
        assert int(service["stop_grace_period"].removesuffix("s")) > grace


def test_the_image_is_slim_non_root_locked_and_free_of_secrets() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    instructions = [line for line in dockerfile.splitlines() if not line.startswith("#")]
    text = "\n".join(instructions)
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    assert len(re.findall(r"^FROM \$\{PYTHON_IMAGE\}", text, flags=re.MULTILINE)) == 2
    assert "uv sync --frozen --no-dev" in text
    user = re.findall(r"^USER (\S+)", text, flags=re.MULTILINE)
    assert user, "the image must switch to a user"
    assert user[-1].split(":")[0] not in {"0", "root"}
    assert re.search(r"^ENTRYPOINT \[\"insats\"\]", text, flags=re.MULTILINE)
    for secret in ("PSEUDONYM_KEY", "IDENTITY_MASTER_KEY", "PASSWORD", "MONGODB_URL"):
        assert secret not in text, secret


def test_the_build_context_holds_what_the_dockerfile_copies() -> None:
    allowed = {
        line.removeprefix("!").rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    copied = {
        source.rstrip("/")
        for line in (DEPLOY / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ") and "--from=" not in line
        for source in line.split()[1:-1]
    }
    assert copied
    assert copied <= allowed, sorted(copied - allowed)
    for source in copied:
        assert (ROOT / source).exists(), source
