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
from urllib.parse import urlsplit

import pytest
import yaml

from scripts.stack.keycloak_realm import AUDIENCE, REALM, realm_json
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
from services.gateway.settings import GatewaySettings
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


GATEWAY_CERTIFICATE = [("insats-gateway-tls", "tls.crt"), ("insats-gateway-tls", "tls.key")]


def test_prod_commits_no_secret_and_names_the_ones_to_create() -> None:
    documents = built("prod")
    assert [d for d in documents if d["kind"] == "Secret"] == []
    assert external_secrets(documents) == [
        ("insats-audience", "audience-key"),
        ("insats-gateway-mongodb-password", "password"),
        ("insats-gateway-portal", "client-secret"),
        *GATEWAY_CERTIFICATE,
        ("insats-gateway-webhooks", "secret-key"),
        ("insats-identity-reads", "secret"),
        ("insats-intake-keys", "identity-master-key"),
        ("insats-intake-keys", "pseudonym-key"),
        ("insats-intake-mongodb-password", "password"),
        ("insats-outcomes-mongodb-password", "password"),
        ("insats-placement-mongodb-password", "password"),
    ]


def test_dev_starts_without_any_secret_made_by_hand() -> None:
    documents = built("dev")
    # But the gateway's certificate, which no pod mounts: without it ingress-nginx serves its
    # own self-signed one.
    assert external_secrets(documents) == GATEWAY_CERTIFICATE
    for secret in (d for d in documents if d["kind"] == "Secret"):
        assert secret["metadata"]["annotations"]["insats/dummy-values"] == "true"


def test_a_certificate_cert_manager_writes_is_not_one_to_create() -> None:
    documents = built("prod")
    ingress = find(documents, "Ingress", "insats-gateway")
    ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] = "letsencrypt"
    assert not set(GATEWAY_CERTIFICATE) & set(external_secrets(documents))
    assert validate(documents) == []


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


# --- the gateway --------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", [path.name for path in overlays()])
def test_every_overlay_runs_the_gateway_from_the_services_image(overlay: str) -> None:
    documents = built(overlay)
    gateway = container(documents, "gateway")
    assert gateway["args"] == ["gateway"]
    assert gateway["image"] == container(documents, "intake")["image"]
    names = {item["name"] for item in gateway["env"]}
    assert {"INSATS_OIDC_ISSUER", "INSATS_KAFKA_PASSWORD", "INSATS_MONGODB_URL"} <= names
    for kind in ("Service", "PodDisruptionBudget", "NetworkPolicy", "Ingress", "KafkaUser"):
        assert find(documents, kind, "insats-gateway"), kind


def test_prod_runs_two_gateways_behind_tls_on_the_overlays_host() -> None:
    documents = built("prod")
    assert find(documents, "Deployment", "insats-gateway")["spec"]["replicas"] == 2
    ingress = find(documents, "Ingress", "insats-gateway")
    [rule] = ingress["spec"]["rules"]
    [tls] = ingress["spec"]["tls"]
    assert rule["host"] == "gateway.insats.example.org"
    assert tls == {"hosts": [rule["host"]], "secretName": "insats-gateway-tls"}
    assert ingress["spec"]["ingressClassName"] == "nginx"
    bounds = GatewaySettings.model_fields
    largest = max(bounds["gateway_max_body_bytes"].default, bounds["gateway_max_csv_bytes"].default)
    assert largest == 2 * 1024 * 1024
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "2m"


def test_the_gateways_issuer_is_the_overlays_own() -> None:
    for overlay in overlays():
        documents = built(overlay.name)
        [config] = [
            d
            for d in documents
            if d["kind"] == "ConfigMap"
            and d["metadata"]["name"].startswith("insats-gateway-config")
        ]
        issuer = config["data"]["INSATS_OIDC_ISSUER"]
        assert issuer.startswith("https://"), overlay.name
        assert ".invalid" not in issuer, overlay.name
        assert config["data"]["INSATS_OIDC_AUDIENCE"] == AUDIENCE


def test_the_gateway_writes_each_tenants_inbound_topics_and_reads_its_stream() -> None:
    user = find(built("prod"), "KafkaUser", "insats-gateway")
    assert _grants(user) == {
        *(
            ("topic", topic, "literal", op)
            for tenant in EXAMPLE_TENANTS
            for topic in tenant.writes()
            for op in ("Write", "Describe")
        ),
        *(
            ("topic", tenant.answers_topic(), "literal", op)
            for tenant in EXAMPLE_TENANTS
            for op in ("Read", "Describe")
        ),
        ("group", "insats-gateway.", "prefix", "Read"),
    }


def test_the_gateways_database_user_finds_only_what_the_status_and_the_portal_read() -> None:
    replica_set = find(built("prod"), "MongoDBCommunity", "insats-mongodb")
    [user] = [u for u in replica_set["spec"]["users"] if u["name"] == "insats-gateway"]
    assert user["roles"] == [
        {"name": "readWrite", "db": "insats_gateway"},
        {"name": "insats-gateway-status", "db": "admin"},
    ]
    [role] = replica_set["spec"]["security"]["roles"]
    assert role["role"] == "insats-gateway-status"
    assert role["roles"] == []
    assert {
        (p["resource"]["db"], p["resource"]["collection"], tuple(p["actions"]))
        for p in role["privileges"]
    } == {
        ("insats_intake", "inbox", ("find",)),
        ("insats_placement", "inbox", ("find",)),
        ("insats_outcomes", "inbox", ("find",)),
        ("insats_intake", "referrals", ("find",)),
        ("insats_outcomes", "programmes", ("find",)),
    }


@pytest.mark.parametrize("overlay", [path.name for path in overlays()])
def test_the_portal_has_its_secret_and_reaches_the_outcomes_dashboard(overlay: str) -> None:
    documents = built(overlay)
    env = {item["name"]: item for item in container(documents, "gateway")["env"]}
    assert env["INSATS_PORTAL_CLIENT_SECRET"]["valueFrom"] == {
        "secretKeyRef": {"name": "insats-gateway-portal", "key": "client-secret"}
    }
    assert "value" not in env["INSATS_PORTAL_CLIENT_SECRET"]
    assert "configMapKeyRef" in env["INSATS_PORTAL_CLIENT_ID"]["valueFrom"]
    url = urlsplit(env["INSATS_PORTAL_OUTCOMES_URL"]["value"])
    service = find(documents, "Service", "insats-outcomes")
    assert (url.scheme, url.hostname) == ("http", "insats-outcomes")
    assert url.port in {port["port"] for port in service["spec"]["ports"]}
    # Through on outcomes' HTTP port (8080, named http) and no other.
    gateway_policy = find(documents, "NetworkPolicy", "insats-gateway")
    assert {
        "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "insats-outcomes"}}}],
        "ports": [{"protocol": "TCP", "port": 8080}],
    } in gateway_policy["spec"]["egress"]
    outcomes_policy = find(documents, "NetworkPolicy", "insats-outcomes")
    from_gateway = [
        rule
        for rule in outcomes_policy["spec"]["ingress"]
        if {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "insats-gateway"}}}
        in rule["from"]
    ]
    assert from_gateway == [
        {
            "from": [
                {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "insats-gateway"}}}
            ],
            "ports": [{"protocol": "TCP", "port": "http"}],
        }
    ]
    assert validate(documents) == []


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


def _gateway_env(documents: list[Document]) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = container(documents, "gateway")["env"]
    return env


def _gateway_config(documents: list[Document]) -> dict[str, str]:
    [config] = [
        d
        for d in documents
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("insats-gateway-config")
    ]
    data: dict[str, str] = config["data"]
    return data


def _gateway_acls(documents: list[Document]) -> list[dict[str, Any]]:
    acls: list[dict[str, Any]] = find(documents, "KafkaUser", "insats-gateway")["spec"][
        "authorization"
    ]["acls"]
    return acls


def _gateway_without_issuer(documents: list[Document]) -> None:
    env = _gateway_env(documents)
    env[:] = [item for item in env if item["name"] != "INSATS_OIDC_ISSUER"]


def _gateway_with_the_placeholder_issuer(documents: list[Document]) -> None:
    _gateway_config(documents)["INSATS_OIDC_ISSUER"] = "https://identity.insats.invalid/realms/x"


def _gateway_trusting_an_http_issuer(documents: list[Document]) -> None:
    _gateway_config(documents)["INSATS_OIDC_ISSUER"] = "http://login.example.org/realms/insats"


def _gateway_missing_a_tenants_topic(documents: list[Document]) -> None:
    acls = _gateway_acls(documents)
    acls[:] = [a for a in acls if a["resource"]["name"] != KUNGSBACKA_REFERRALS]


def _gateway_missing_a_stream(documents: list[Document]) -> None:
    acls = _gateway_acls(documents)
    acls[:] = [a for a in acls if a["resource"]["name"] != ERIKSHJALPEN.answers_topic()]


def _gateway_writing_by_prefix(documents: list[Document]) -> None:
    _gateway_acls(documents).append(
        {
            "resource": {"type": "topic", "name": "insats.municipality.", "patternType": "prefix"},
            "operations": ["Write"],
        }
    )


def _gateway_writing_a_services_topic(documents: list[Document]) -> None:
    _gateway_acls(documents).append(
        {
            "resource": {"type": "topic", "name": topics.INTAKE_EVENTS, "patternType": "literal"},
            "operations": ["Write"],
        }
    )


def _gateway_reading_referrals(documents: list[Document]) -> None:
    _gateway_acls(documents).append(
        {
            "resource": {"type": "topic", "name": KUNGSBACKA_REFERRALS, "patternType": "literal"},
            "operations": ["Read"],
        }
    )


def _gateway_without_consumer_groups(documents: list[Document]) -> None:
    acls = _gateway_acls(documents)
    acls[:] = [a for a in acls if a["resource"]["type"] != "group"]


def _gateway_without_network_policy(documents: list[Document]) -> None:
    documents.remove(find(documents, "NetworkPolicy", "insats-gateway"))


def _gateway_cut_off_from_the_identity_provider(documents: list[Document]) -> None:
    egress = find(documents, "NetworkPolicy", "insats-gateway")["spec"]["egress"]
    egress[:] = [rule for rule in egress if rule["ports"][0]["port"] != 443]


def _gateway_unreachable_by_the_ingress_controller(documents: list[Document]) -> None:
    find(documents, "NetworkPolicy", "insats-gateway")["spec"]["ingress"] = []


def _gateway_reading_intakes_database(documents: list[Document]) -> None:
    replica_set = find(documents, "MongoDBCommunity", "insats-mongodb")
    [user] = [u for u in replica_set["spec"]["users"] if u["name"] == "insats-gateway"]
    user["roles"].append({"name": "read", "db": "insats_intake"})


def _gateway_finding_any_collection(documents: list[Document]) -> None:
    replica_set = find(documents, "MongoDBCommunity", "insats-mongodb")
    replica_set["spec"]["security"]["roles"][0]["privileges"][0]["resource"]["collection"] = ""


def _gateway_body_limit_below_the_csv_bound(documents: list[Document]) -> None:
    annotations = find(documents, "Ingress", "insats-gateway")["metadata"]["annotations"]
    annotations["nginx.ingress.kubernetes.io/proxy-body-size"] = "192k"


def _gateway_without_tls(documents: list[Document]) -> None:
    del find(documents, "Ingress", "insats-gateway")["spec"]["tls"]


def _gateway_host_left_as_the_placeholder(documents: list[Document]) -> None:
    ingress = find(documents, "Ingress", "insats-gateway")
    ingress["spec"]["rules"][0]["host"] = ingress["spec"]["tls"][0]["hosts"][0] = (
        "gateway.insats.invalid"
    )


def _gateway_health_published(documents: list[Document]) -> None:
    find(documents, "Ingress", "insats-gateway")["spec"]["rules"][0]["http"]["paths"][0]["path"] = (
        "/"
    )


def _gateway_grace_without_its_pause(documents: list[Document]) -> None:
    deployment = find(documents, "Deployment", "insats-gateway")
    deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 25


def _gateway_without_disruption_budget(documents: list[Document]) -> None:
    documents.remove(find(documents, "PodDisruptionBudget", "insats-gateway"))


def _gateway_probing_the_wrong_path(documents: list[Document]) -> None:
    container(documents, "gateway")["readinessProbe"]["httpGet"]["path"] = "/v1/me"


def _gateway_as_root(documents: list[Document]) -> None:
    gateway = container(documents, "gateway")
    gateway["securityContext"]["runAsNonRoot"] = False
    deployment = find(documents, "Deployment", "insats-gateway")
    deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] = False


def _gateway_on_other_topics_than_the_services(documents: list[Document]) -> None:
    _gateway_env(documents).append({"name": "INSATS_TOPIC_PREFIX", "value": "staging."})


def _ingress_without_a_class(documents: list[Document]) -> None:
    del find(documents, "Ingress", "insats-gateway")["spec"]["ingressClassName"]


def _ingress_to_a_missing_service(documents: list[Document]) -> None:
    paths = find(documents, "Ingress", "insats-gateway")["spec"]["rules"][0]["http"]["paths"]
    paths[0]["backend"]["service"]["name"] = "insats-portal"


def _portal_secret_in_plain_text(documents: list[Document]) -> None:
    _gateway_env(documents).append({"name": "INSATS_PORTAL_CLIENT_SECRET", "value": "a-secret"})


def _portal_secret_from_a_config_map(documents: list[Document]) -> None:
    _gateway_config(documents)["INSATS_PORTAL_CLIENT_SECRET"] = "a-secret"
    [item] = [e for e in _gateway_env(documents) if e["name"] == "INSATS_PORTAL_CLIENT_SECRET"]
    item["valueFrom"] = {
        "configMapKeyRef": {"name": _gateway_config_name(documents), "key": item["name"]}
    }


@pytest.mark.parametrize("overlay", [path.name for path in overlays()])
def test_caseworkers_read_identities_through_intake_with_a_secret_both_hold(overlay: str) -> None:
    documents = built(overlay)
    gateway = {item["name"]: item for item in container(documents, "gateway")["env"]}
    intake = {item["name"]: item for item in container(documents, "intake")["env"]}
    shared = {"secretKeyRef": {"name": "insats-identity-reads", "key": "secret"}}
    assert gateway["INSATS_IDENTITY_READ_SECRET"]["valueFrom"] == shared
    assert intake["INSATS_IDENTITY_READ_SECRET"]["valueFrom"] == shared
    assert gateway["INSATS_PORTAL_INTAKE_URL"]["value"] == "http://insats-intake:8080"
    # Through on intake's HTTP port, from the gateway's pods (and Prometheus, without the secret).
    assert {
        "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "insats-intake"}}}],
        "ports": [{"protocol": "TCP", "port": 8080}],
    } in find(documents, "NetworkPolicy", "insats-gateway")["spec"]["egress"]
    assert {
        "from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "insats-gateway"}}}],
        "ports": [{"protocol": "TCP", "port": "http"}],
    } in find(documents, "NetworkPolicy", "insats-intake")["spec"]["ingress"]


def _gateway_config_name(documents: list[Document]) -> str:
    [name] = [
        d["metadata"]["name"]
        for d in documents
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("insats-gateway-config")
    ]
    return str(name)


def _portal_outcomes_url(documents: list[Document], url: str) -> None:
    [item] = [e for e in _gateway_env(documents) if e["name"] == "INSATS_PORTAL_OUTCOMES_URL"]
    item["value"] = url


def _portal_to_a_missing_service(documents: list[Document]) -> None:
    _portal_outcomes_url(documents, "http://outcomes:8080")


def _portal_to_a_port_outcomes_does_not_serve(documents: list[Document]) -> None:
    _portal_outcomes_url(documents, "http://insats-outcomes:9090")


def _portal_to_another_service(documents: list[Document]) -> None:
    _portal_outcomes_url(documents, "http://insats-placement.insats-dev.svc:8080")


def _gateway_cut_off_from(service: str) -> Breakage:
    def cut(documents: list[Document]) -> None:
        egress = find(documents, "NetworkPolicy", "insats-gateway")["spec"]["egress"]
        to = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": f"insats-{service}"}}}
        egress[:] = [rule for rule in egress if rule.get("to") != [to]]

    return cut


def _intake_refusing_the_gateway(documents: list[Document]) -> None:
    ingress = find(documents, "NetworkPolicy", "insats-intake")["spec"]["ingress"]
    ingress[:] = [r for r in ingress if "namespaceSelector" in r["from"][0]]


def _gateway_without_the_identity_read_secret(documents: list[Document]) -> None:
    env = _gateway_env(documents)
    env[:] = [e for e in env if e["name"] != "INSATS_IDENTITY_READ_SECRET"]


def _intake_with_another_identity_read_secret(documents: list[Document]) -> None:
    [item] = [
        e
        for e in container(documents, "intake")["env"]
        if e["name"] == "INSATS_IDENTITY_READ_SECRET"
    ]
    item["valueFrom"]["secretKeyRef"]["name"] = "insats-intake-keys"


def _outcomes_refusing_the_gateway(documents: list[Document]) -> None:
    ingress = find(documents, "NetworkPolicy", "insats-outcomes")["spec"]["ingress"]
    [rule] = [r for r in ingress if "podSelector" in r["from"][0] and len(r["from"][0]) == 1]
    rule["ports"] = [{"protocol": "TCP", "port": 9090}]


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
    "a gateway without an issuer": (
        _gateway_without_issuer,
        "Deployment/insats-gateway",
        "INSATS_OIDC_ISSUER is not set: the gateway would not start",
    ),
    "a gateway trusting the base's placeholder issuer": (
        _gateway_with_the_placeholder_issuer,
        "Deployment/insats-gateway",
        "INSATS_OIDC_ISSUER https://identity.insats.invalid/realms/x is the base's placeholder",
    ),
    "a gateway fetching its keys over plain http": (
        _gateway_trusting_an_http_issuer,
        "Deployment/insats-gateway",
        "is not an https URL",
    ),
    "a gateway unable to publish a tenant's requests": (
        _gateway_missing_a_tenants_topic,
        "KafkaUser/insats-gateway",
        f"cannot Write topic {KUNGSBACKA_REFERRALS}, on which the gateway publishes the "
        "requests of municipality:1384",
    ),
    "a gateway unable to read a tenant's stream": (
        _gateway_missing_a_stream,
        "KafkaUser/insats-gateway",
        f"cannot Read topic {ERIKSHJALPEN.answers_topic()}, the stream of "
        "partner:erikshjalpen-kungsbacka",
    ),
    "a gateway writing by prefix": (
        _gateway_writing_by_prefix,
        "KafkaUser/insats-gateway",
        "has a prefix ACL on topic insats.municipality.",
    ),
    "a gateway writing a service's topic": (
        _gateway_writing_a_services_topic,
        "KafkaUser/insats-gateway",
        f"grants Write on topic {topics.INTAKE_EVENTS} (literal)",
    ),
    "a gateway reading referrals": (
        _gateway_reading_referrals,
        "KafkaUser/insats-gateway",
        f"may read {KUNGSBACKA_REFERRALS}, which only intake may read",
    ),
    "a gateway without its consumer groups": (
        _gateway_without_consumer_groups,
        "KafkaUser/insats-gateway",
        "cannot Read its consumer groups insats-gateway.*",
    ),
    "a gateway without a network policy": (
        _gateway_without_network_policy,
        "Deployment/insats-gateway",
        "no NetworkPolicy restricts both ingress and egress of its pods",
    ),
    "a gateway that cannot reach the identity provider": (
        _gateway_cut_off_from_the_identity_provider,
        "Deployment/insats-gateway",
        "no egress rule of its NetworkPolicy allows TCP 443 to the identity provider",
    ),
    "a gateway the ingress controller cannot reach": (
        _gateway_unreachable_by_the_ingress_controller,
        "Deployment/insats-gateway",
        "no ingress rule of its NetworkPolicy admits its HTTP port 8080",
    ),
    "a gateway reading intake's whole database": (
        _gateway_reading_intakes_database,
        "MongoDBCommunity/insats-mongodb",
        "user insats-gateway has read on insats_intake, beyond the gateway's database",
    ),
    "a gateway finding in any collection": (
        _gateway_finding_any_collection,
        "MongoDBCommunity/insats-mongodb",
        "grants ['find'] on insats_intake.*: the gateway may only find in",
    ),
    "an ingress refusing bodies the gateway takes": (
        _gateway_body_limit_below_the_csv_bound,
        "Ingress/insats-gateway",
        "proxy-body-size 192k (196608 bytes) must be 2097152 bytes",
    ),
    "an ingress without TLS": (
        _gateway_without_tls,
        "Ingress/insats-gateway",
        "has no TLS: bearer tokens and portal logins would cross the network in clear text",
    ),
    "an ingress on the base's placeholder host": (
        _gateway_host_left_as_the_placeholder,
        "Ingress/insats-gateway",
        "host gateway.insats.invalid is the base's placeholder",
    ),
    "an ingress publishing the health endpoints": (
        _gateway_health_published,
        "Ingress/insats-gateway",
        "path / (Prefix) publishes /health/ready",
    ),
    "a gateway grace shorter than its pause and drain": (
        _gateway_grace_without_its_pause,
        "Deployment/insats-gateway",
        "must exceed INSATS_SHUTDOWN_GRACE_SECONDS 20 plus the preStop sleep of 5 s",
    ),
    "a gateway without a disruption budget": (
        _gateway_without_disruption_budget,
        "Deployment/insats-gateway",
        "no PodDisruptionBudget selects its pods",
    ),
    "a gateway probed on another path": (
        _gateway_probing_the_wrong_path,
        "Deployment/insats-gateway",
        "readinessProbe must GET /health/ready on the service's port 8080",
    ),
    "a gateway running as root": (
        _gateway_as_root,
        "Deployment/insats-gateway",
        "container gateway: securityContext.runAsNonRoot is not true",
    ),
    "a gateway publishing where no service reads": (
        _gateway_on_other_topics_than_the_services,
        "Deployment/insats-gateway",
        "INSATS_TOPIC_PREFIX 'staging.' is not the services' ''",
    ),
    "an ingress without a class": (
        _ingress_without_a_class,
        "Ingress/insats-gateway",
        "no ingressClassName",
    ),
    "an ingress to a Service not in the build": (
        _ingress_to_a_missing_service,
        "Ingress/insats-gateway",
        "routes /v1 to Service insats-portal, which is not in the build",
    ),
    "the portal's secret in plain text": (
        _portal_secret_in_plain_text,
        "Deployment/insats-gateway",
        "INSATS_PORTAL_CLIENT_SECRET is a plain-text value",
    ),
    "the portal's secret in a ConfigMap": (
        _portal_secret_from_a_config_map,
        "Deployment/insats-gateway",
        "INSATS_PORTAL_CLIENT_SECRET comes from ConfigMap insats-gateway-config",
    ),
    "a portal pointing at a Service not in the build": (
        _portal_to_a_missing_service,
        "Deployment/insats-gateway",
        "INSATS_PORTAL_OUTCOMES_URL http://outcomes:8080 names no Service of the build",
    ),
    "a portal pointing at a port outcomes does not serve": (
        _portal_to_a_port_outcomes_does_not_serve,
        "Deployment/insats-gateway",
        "Service/insats-outcomes has no port 9090",
    ),
    "a portal pointing at another service than outcomes": (
        _portal_to_another_service,
        "Deployment/insats-gateway",
        "Service/insats-placement selects no pods running outcomes",
    ),
    "a gateway that cannot reach the outcomes dashboard": (
        _gateway_cut_off_from("outcomes"),
        "Deployment/insats-gateway",
        "no egress rule of its NetworkPolicy allows TCP 8080 to the pods of "
        "Deployment/insats-outcomes",
    ),
    "an outcomes service refusing the gateway": (
        _outcomes_refusing_the_gateway,
        "Deployment/insats-outcomes",
        "no ingress rule of its NetworkPolicy admits the gateway's pods on TCP 8080",
    ),
    "a gateway that cannot reach intake's identity reads": (
        _gateway_cut_off_from("intake"),
        "Deployment/insats-gateway",
        "no egress rule of its NetworkPolicy allows TCP 8080 to the pods of "
        "Deployment/insats-intake (INSATS_PORTAL_INTAKE_URL)",
    ),
    "an intake refusing the gateway": (
        _intake_refusing_the_gateway,
        "Deployment/insats-intake",
        "no ingress rule of its NetworkPolicy admits the gateway's pods on TCP 8080: the portal "
        "(INSATS_PORTAL_INTAKE_URL) could not reach its identity reads",
    ),
    "a portal reading identities without the secret": (
        _gateway_without_the_identity_read_secret,
        "Deployment/insats-gateway",
        "INSATS_PORTAL_INTAKE_URL is set but INSATS_IDENTITY_READ_SECRET is not",
    ),
    "an intake holding another identity read secret": (
        _intake_with_another_identity_read_secret,
        "Deployment/insats-intake",
        "INSATS_IDENTITY_READ_SECRET does not come from the Secret key the gateway's does",
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
    assert set(services) == {
        "kafka",
        "mongo",
        "mongo-init",
        *SERVICES,
        "gateway",
        "keycloak",
        "demo",
    }
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


def test_compose_runs_the_gateway_against_keycloak_with_the_local_stacks_realm() -> None:
    services = _compose()["services"]
    gateway, keycloak = services["gateway"], services["keycloak"]
    assert gateway["command"] == ["gateway"]
    assert gateway["build"]["dockerfile"] == "deploy/Dockerfile"
    assert gateway["ports"] == ["8090:8080"]
    assert gateway["read_only"] is True
    assert "/health/ready" in " ".join(gateway["healthcheck"]["test"])
    assert {dep: c["condition"] for dep, c in gateway["depends_on"].items()} == {
        "kafka": "service_healthy",
        "mongo-init": "service_completed_successfully",
        "keycloak": "service_healthy",
    }
    assert keycloak["image"] == "quay.io/keycloak/keycloak:26.4.0"
    assert keycloak["command"][:2] == ["start-dev", "--import-realm"]
    # The healthcheck asks the management port, which serves /health only when enabled.
    assert "--health-enabled=true" in keycloak["command"]
    assert "/health/ready" in " ".join(keycloak["healthcheck"]["test"])
    # One issuer whichever way a token was fetched: Keycloak's fixed hostname, as published.
    [hostname] = [a.split("=", 1)[1] for a in keycloak["command"] if a.startswith("--hostname=")]
    assert keycloak["ports"] == [f"{urlsplit(hostname).port}:8080"]
    environment = gateway["environment"]
    assert environment["INSATS_OIDC_ISSUER"] == f"{hostname}/realms/{REALM}"
    assert environment["INSATS_OIDC_AUDIENCE"] == AUDIENCE
    assert environment["INSATS_OIDC_JWKS_URL"] == (
        f"http://keycloak:8080/realms/{REALM}/protocol/openid-connect/certs"
    )
    [mount] = keycloak["volumes"]
    source, target, _ = mount.split(":")
    assert target == "/opt/keycloak/data/import/insats-realm.json"
    assert (DEPLOY / source).resolve() == DEPLOY / "keycloak" / "insats-realm.json"


def test_the_compose_realm_is_the_one_the_local_stack_imports() -> None:
    committed = (DEPLOY / "keycloak" / "insats-realm.json").read_text(encoding="utf-8")
    assert committed == realm_json(), (
        "generate it again: .venv/bin/python -c 'from scripts.stack.keycloak_realm import "
        'realm_json; print(realm_json(), end="")\' > deploy/keycloak/insats-realm.json'
    )


def test_compose_lets_a_stopping_service_drain() -> None:
    grace = Settings.model_fields["shutdown_grace_seconds"].default
    for name in (*SERVICES, "gateway"):
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
