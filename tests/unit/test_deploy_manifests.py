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
from shared.contracts.tenants import CHANNELS, Channel, Tenant, inbound_topic
from shared.services import SERVICES
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
HOURS_72 = 72 * 3_600_000
KUNGSBACKA = Tenant.municipality("1384")
KALMAR_LAN = Tenant.owner("kommunforbundet-kalmar-lan")
ERIKSHJALPEN = Tenant.partner("erikshjalpen-kungsbacka")
EXAMPLE_TENANTS = (KUNGSBACKA, KALMAR_LAN, ERIKSHJALPEN)
KUNGSBACKA_REFERRALS = inbound_topic(KUNGSBACKA, Channel.REFERRALS)


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
        ("insats-audience", "audience-key"),
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


def test_every_topic_the_services_own_is_a_kafka_topic_in_every_overlay() -> None:
    wanted = {
        *(t for t in topics.ALL_TOPICS if t not in topics.INBOUND_TOPICS),
        *(topics.dead_letter_topic(s) for s in SERVICES),
    }
    for overlay in overlays():
        names = {d["metadata"]["name"] for d in built(overlay.name) if d["kind"] == "KafkaTopic"}
        assert wanted <= names, (overlay.name, sorted(wanted - names))


def test_every_example_tenant_has_its_topics_in_every_overlay() -> None:
    for overlay in overlays():
        names = {d["metadata"]["name"] for d in built(overlay.name) if d["kind"] == "KafkaTopic"}
        for tenant in EXAMPLE_TENANTS:
            wanted = {*tenant.writes(), tenant.answers_topic()}
            assert wanted <= names, (overlay.name, sorted(wanted - names))


def test_no_overlay_keeps_or_grants_the_shared_inbound_topics() -> None:
    for overlay in overlays():
        documents = built(overlay.name)
        names = {d["metadata"]["name"] for d in documents if d["kind"] == "KafkaTopic"}
        assert not names & topics.INBOUND_TOPICS, overlay.name
        granted = {
            acl["resource"]["name"]
            for user in documents
            if user["kind"] == "KafkaUser"
            for acl in user["spec"]["authorization"]["acls"]
        }
        assert not granted & topics.INBOUND_TOPICS, overlay.name


def test_clear_identities_are_kept_72_hours_and_other_dead_letters_longer() -> None:
    documents = built("prod")

    def config(name: str) -> dict[str, Any]:
        found: dict[str, Any] = find(documents, "KafkaTopic", name)["spec"]["config"]
        return found

    for identities in (KUNGSBACKA_REFERRALS, topics.dead_letter_topic("intake")):
        assert config(identities)["retention.ms"] == HOURS_72
        assert config(identities)["segment.ms"] == 3_600_000
    assert config(topics.dead_letter_topic("placement"))["retention.ms"] > HOURS_72
    assert config(topics.dead_letter_topic("outcomes"))["retention.ms"] > HOURS_72


def _grants(user: Document) -> set[tuple[str, str, str, str]]:
    return {
        (acl["resource"]["type"], acl["resource"]["name"], acl["resource"]["patternType"], op)
        for acl in user["spec"]["authorization"]["acls"]
        for op in acl["operations"]
    }


@pytest.mark.parametrize("tenant", EXAMPLE_TENANTS, ids=lambda t: t.username)
def test_each_example_tenant_writes_its_own_topics_and_reads_its_own_stream(
    tenant: Tenant,
) -> None:
    user = find(built("prod"), "KafkaUser", tenant.username)
    assert user["metadata"]["labels"]["insats/tenant-kind"] == tenant.kind.value
    assert _grants(user) == {
        *(("topic", t, "literal", op) for t in tenant.writes() for op in ("Write", "Describe")),
        *(("topic", tenant.answers_topic(), "literal", op) for op in ("Read", "Describe")),
        ("group", f"{tenant.username}.", "prefix", "Read"),
    }


def test_the_example_partner_reads_its_own_topic_only() -> None:
    user = find(built("prod"), "KafkaUser", "partner-erikshjalpen-kungsbacka")
    assert _grants(user) == {
        ("topic", "insats.partner.erikshjalpen-kungsbacka.placements", "literal", "Read"),
        ("topic", "insats.partner.erikshjalpen-kungsbacka.placements", "literal", "Describe"),
        ("group", "partner-erikshjalpen-kungsbacka.", "prefix", "Read"),
        ("topic", "insats.partner.erikshjalpen-kungsbacka.placement-reports", "literal", "Write"),
        (
            "topic",
            "insats.partner.erikshjalpen-kungsbacka.placement-reports",
            "literal",
            "Describe",
        ),
    }


def test_each_service_reads_the_tenant_topics_of_its_channels_and_writes_their_streams() -> None:
    documents = built("prod")

    def tenant_grants(service: str) -> set[tuple[str, str]]:
        user = find(documents, "KafkaUser", f"insats-{service}")
        return {
            (op, name)
            for kind, name, _, op in _grants(user)
            if kind == "topic" and name.split(".")[1] in {"municipality", "owner", "partner"}
        }

    channels = {
        "intake": {Channel.REFERRALS, Channel.PROGRAMMES, Channel.PARTNERS},
        "placement": {Channel.PROGRAMMES, Channel.PARTNERS, Channel.PLACEMENT_REPORTS},
        "outcomes": {Channel.PROGRAMMES, Channel.PARTNERS, Channel.OUTCOME_REPORTS},
    }
    for service, read in channels.items():
        assert tenant_grants(service) == {
            *(
                ("Read", inbound_topic(tenant, channel))
                for tenant in EXAMPLE_TENANTS
                for channel in read & CHANNELS[tenant.kind]
            ),
            *(("Write", tenant.answers_topic()) for tenant in EXAMPLE_TENANTS),
        }, service


# --- each rule catches what it guards ---------------------------------------------------------

Breakage = Callable[[list[Document]], None]


def _without_limits(documents: list[Document]) -> None:
    del container(documents, "intake")["resources"]["limits"]


def _without_readiness_probe(documents: list[Document]) -> None:
    del container(documents, "placement")["readinessProbe"]


def _partitions_as_text(documents: list[Document]) -> None:
    find(documents, "KafkaTopic", KUNGSBACKA_REFERRALS)["spec"]["partitions"] = "six"


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


def _audience_key_missing(documents: list[Document]) -> None:
    env = container(documents, "placement")["env"]
    env[:] = [item for item in env if item["name"] != "INSATS_AUDIENCE_KEY"]


def _key_store_beyond_intake(documents: list[Document]) -> None:
    [replica_set] = [d for d in documents if d["kind"] == "MongoDBCommunity"]
    [placement] = [u for u in replica_set["spec"]["users"] if u["name"] == "insats-placement"]
    placement["roles"].append({"name": "read", "db": "insats_intake_keys"})


def _retention_missing(documents: list[Document]) -> None:
    env = container(documents, "intake")["env"]
    env[:] = [item for item in env if item["name"] != "INSATS_RETENTION_DAYS"]


def _decision_retention_missing(documents: list[Document]) -> None:
    env = container(documents, "intake")["env"]
    env[:] = [item for item in env if item["name"] != "INSATS_DECISION_RETENTION_DAYS"]


def _inbox_forgets_what_a_topic_keeps(documents: list[Document]) -> None:
    # The programmes and partners topics are kept for ever.
    container(documents, "placement")["env"].append(
        {"name": "INSATS_INBOX_RETENTION_DAYS", "value": "45"}
    )


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
        {"resource": {"type": "topic", "name": "insats.municipality."}, "operations": ["All"]}
    )
    user["spec"]["authorization"]["acls"][-1]["resource"]["patternType"] = "prefix"


def _service_reads_referrals(documents: list[Document]) -> None:
    acls = find(documents, "KafkaUser", "insats-placement")["spec"]["authorization"]["acls"]
    acls.append(
        {
            "resource": {"type": "topic", "name": KUNGSBACKA_REFERRALS, "patternType": "literal"},
            "operations": ["Read"],
        }
    )


def _service_user_misses_a_subscription(documents: list[Document]) -> None:
    partners = inbound_topic(KUNGSBACKA, Channel.PARTNERS)
    acls = find(documents, "KafkaUser", "insats-outcomes")["spec"]["authorization"]["acls"]
    acls[:] = [a for a in acls if a["resource"].get("name") != partners]


def _service_user_misses_a_stream(documents: list[Document]) -> None:
    stream = ERIKSHJALPEN.answers_topic()
    acls = find(documents, "KafkaUser", "insats-placement")["spec"]["authorization"]["acls"]
    acls[:] = [a for a in acls if a["resource"].get("name") != stream]


def _tenant_writes_by_prefix(documents: list[Document]) -> None:
    acls = find(documents, "KafkaUser", KUNGSBACKA.username)["spec"]["authorization"]["acls"]
    acls.append(
        {
            "resource": {
                "type": "topic",
                "name": "insats.municipality.1384.",
                "patternType": "prefix",
            },
            "operations": ["Write"],
        }
    )


def _tenant_writes_anothers_topic(documents: list[Document]) -> None:
    acls = find(documents, "KafkaUser", KALMAR_LAN.username)["spec"]["authorization"]["acls"]
    acls.append(
        {
            "resource": {
                "type": "topic",
                "name": inbound_topic(KUNGSBACKA, Channel.PROGRAMMES),
                "patternType": "literal",
            },
            "operations": ["Write"],
        }
    )


def _tenant_reads_anothers_stream(documents: list[Document]) -> None:
    acls = find(documents, "KafkaUser", ERIKSHJALPEN.username)["spec"]["authorization"]["acls"]
    acls.append(
        {
            "resource": {
                "type": "topic",
                "name": KUNGSBACKA.answers_topic(),
                "patternType": "literal",
            },
            "operations": ["Read"],
        }
    )


def _tenant_user_misnamed(documents: list[Document]) -> None:
    find(documents, "KafkaUser", KUNGSBACKA.username)["metadata"]["name"] = (
        "municipality-kungsbacka"
    )


def _user_of_nobody(documents: list[Document]) -> None:
    del find(documents, "KafkaUser", KALMAR_LAN.username)["metadata"]["labels"][
        "insats/tenant-kind"
    ]


def _inbound_topic_stamped_by_the_sender(documents: list[Document]) -> None:
    del find(documents, "KafkaTopic", KUNGSBACKA_REFERRALS)["spec"]["config"][
        "message.timestamp.type"
    ]


def _inbound_topic_without_a_size_bound(documents: list[Document]) -> None:
    topic = inbound_topic(KALMAR_LAN, Channel.OUTCOME_REPORTS)
    find(documents, "KafkaTopic", topic)["spec"]["config"]["max.message.bytes"] = 10_485_760


def _referral_segments_a_week_long(documents: list[Document]) -> None:
    del find(documents, "KafkaTopic", KUNGSBACKA_REFERRALS)["spec"]["config"]["segment.ms"]


def _special_categories_in_week_long_segments(documents: list[Document]) -> None:
    del find(documents, "KafkaTopic", topics.INTAKE_SPECIAL_CATEGORIES)["spec"]["config"][
        "segment.ms"
    ]


def _service_user_may_create_topics(documents: list[Document]) -> None:
    acls = find(documents, "KafkaUser", "insats-placement")["spec"]["authorization"]["acls"]
    acls.append({"resource": {"type": "topic", "name": "*"}, "operations": ["Create"]})


def _referrals_kept_a_month(documents: list[Document]) -> None:
    topic = find(documents, "KafkaTopic", KUNGSBACKA_REFERRALS)
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
        f"KafkaTopic/{KUNGSBACKA_REFERRALS}",
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
    "personal data kept without end": (
        _retention_missing,
        "Deployment/insats-intake",
        "INSATS_RETENTION_DAYS is not set",
    ),
    "case references of the rejected kept without end": (
        _decision_retention_missing,
        "Deployment/insats-intake",
        "INSATS_DECISION_RETENTION_DAYS is not set",
    ),
    "an inbox that forgets ids a topic can deliver again": (
        _inbox_forgets_what_a_topic_keeps,
        "Deployment/insats-placement",
        "INSATS_INBOX_RETENTION_DAYS 45 is shorter than",
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
    "audience key not provided": (
        _audience_key_missing,
        "Deployment/insats-placement",
        "placement would not start: INSATS_AUDIENCE_KEY must be set",
    ),
    "another service reading the key store": (
        _key_store_beyond_intake,
        "MongoDBCommunity/insats-mongodb",
        "user insats-placement has read on insats_intake_keys, beyond placement's databases",
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
        f"may read {KUNGSBACKA_REFERRALS}, which only intake may read",
    ),
    "a service other than intake able to read referrals": (
        _service_reads_referrals,
        "KafkaUser/insats-placement",
        f"may read {KUNGSBACKA_REFERRALS}, which only intake may read",
    ),
    "a subscription in the code the Kafka user lacks": (
        _service_user_misses_a_subscription,
        "KafkaUser/insats-outcomes",
        "cannot Read topic insats.municipality.1384.partners, which outcomes consumes",
    ),
    "a tenant's stream the service user cannot write": (
        _service_user_misses_a_stream,
        "KafkaUser/insats-placement",
        "cannot Write topic insats.partner.erikshjalpen-kungsbacka.placements",
    ),
    "a tenant user with a prefixed write ACL": (
        _tenant_writes_by_prefix,
        "KafkaUser/kommun-1384",
        "has a prefix ACL on topic insats.municipality.1384.",
    ),
    "a tenant able to write another tenant's topic": (
        _tenant_writes_anothers_topic,
        "KafkaUser/owner-kommunforbundet-kalmar-lan",
        "grants Write on topic insats.municipality.1384.programmes (literal)",
    ),
    "a tenant able to read another tenant's stream": (
        _tenant_reads_anothers_stream,
        "KafkaUser/partner-erikshjalpen-kungsbacka",
        "grants Read on topic insats.municipality.1384.events (literal)",
    ),
    "a tenant user not named as its tenant": (
        _tenant_user_misnamed,
        "KafkaUser/municipality-kungsbacka",
        "is no municipality's user",
    ),
    "a user neither a service's nor a tenant's": (
        _user_of_nobody,
        "KafkaUser/owner-kommunforbundet-kalmar-lan",
        "runs no service and has no insats/tenant-kind label",
    ),
    "a tenant inbound topic without LogAppendTime": (
        _inbound_topic_stamped_by_the_sender,
        f"KafkaTopic/{KUNGSBACKA_REFERRALS}",
        "message.timestamp.type None is not LogAppendTime",
    ),
    "a tenant inbound topic admitting larger records": (
        _inbound_topic_without_a_size_bound,
        "KafkaTopic/insats.owner.kommunforbundet-kalmar-lan.outcome-reports",
        "max.message.bytes 10485760 must be at most 262144",
    ),
    "referral segments that outlive the retention": (
        _referral_segments_a_week_long,
        f"KafkaTopic/{KUNGSBACKA_REFERRALS}",
        "segment.ms None must be at most 3600000",
    ),
    "a short retention in segments that outlive it": (
        _special_categories_in_week_long_segments,
        f"KafkaTopic/{topics.INTAKE_SPECIAL_CATEGORIES}",
        "segment.ms None must be at most 86400000",
    ),
    "a service user with more rights than its code needs": (
        _service_user_may_create_topics,
        "KafkaUser/insats-placement",
        "grants Create on topic *",
    ),
    "clear identities kept too long": (
        _referrals_kept_a_month,
        f"KafkaTopic/{KUNGSBACKA_REFERRALS}",
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
    for secret in (
        "PSEUDONYM_KEY",
        "AUDIENCE_KEY",
        "IDENTITY_MASTER_KEY",
        "PASSWORD",
        "MONGODB_URL",
    ):
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
