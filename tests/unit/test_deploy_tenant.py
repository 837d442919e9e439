"""The tenants' Components under deploy/k8s/base/kafka/tenants are what scripts/deploy_tenant.py
renders, byte for byte: an edit by hand, or a change of the tenant model or of a service's
subscriptions without generating them again, fails here."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from scripts.cli import app
from scripts.deploy_tenant import TENANTS, NotDeployable, render
from scripts.validate_manifests import tenant_of_user
from shared.contracts.tenants import Tenant, TenantKind
from shared.settings import ExplicitSettings

BASE = TENANTS.parents[1]
EXAMPLES = (
    Tenant.municipality("1384"),
    Tenant.owner("kommunforbundet-kalmar-lan"),
    Tenant.partner("erikshjalpen-kungsbacka"),
)


def committed() -> dict[Tenant, Path]:
    found: dict[Tenant, Path] = {}
    for folder in sorted(path for path in TENANTS.iterdir() if path.is_dir()):
        tenants = [t for kind in TenantKind if (t := tenant_of_user(kind, folder.name))]
        assert len(tenants) == 1, f"{folder.name} is no tenant's username"
        found[tenants[0]] = folder
    return found


def files(folder: Path) -> dict[str, str]:
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(folder.iterdir())}


def test_the_three_examples_are_committed() -> None:
    assert set(EXAMPLES) <= set(committed())


@pytest.mark.parametrize("tenant", list(committed()), ids=lambda t: t.username)
def test_a_committed_component_is_what_the_generator_renders(tenant: Tenant) -> None:
    assert files(committed()[tenant]) == render(tenant).files


def test_the_base_lists_every_component_and_nothing_else() -> None:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text(encoding="utf-8"))
    listed = {item for item in kustomization["components"] if item.startswith("kafka/tenants/")}
    assert listed == {f"kafka/tenants/{folder.name}" for folder in committed().values()}


def test_the_machines_environment_does_not_reach_the_output(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INSATS_INBOUND_MAX_MESSAGE_BYTES", "1048576")
    monkeypatch.setenv("INSATS_REFERRAL_RETENTION_HOURS", "720")
    monkeypatch.setenv("INSATS_TOPIC_PREFIX", "staging.")
    for tenant in EXAMPLES:
        assert render(tenant).files == files(committed()[tenant])


def test_the_topics_are_configured_as_the_code_configures_them() -> None:
    settings = ExplicitSettings(referral_retention_hours=24, inbound_max_message_bytes=65_536)
    documents = list(yaml.safe_load_all(render(EXAMPLES[0], settings).files["tenant.yaml"]))
    config = next(
        d["spec"]["config"]
        for d in documents
        if d["metadata"]["name"] == "insats.municipality.1384.referrals"
    )
    assert config["message.timestamp.type"] == "LogAppendTime"
    assert config["max.message.bytes"] == 65_536
    assert config["retention.ms"] == 24 * 3_600_000
    assert config["segment.ms"] == 3_600_000


def _patched_acls(component: str, user: str) -> set[tuple[str, str, tuple[str, ...]]]:
    kustomization = yaml.safe_load(component)
    [patch] = [p for p in kustomization["patches"] if p["target"]["name"] == user]
    return {
        (
            op["value"]["resource"]["name"],
            op["value"]["resource"]["patternType"],
            tuple(op["value"]["operations"]),
        )
        for op in yaml.safe_load(patch["patch"])
    }


@pytest.mark.parametrize(
    "tenant",
    [*EXAMPLES, Tenant.owner("samordningsforbundet-halland"), Tenant.municipality("0180")],
    ids=lambda t: t.username,
)
def test_the_component_lets_the_gateway_write_its_inbound_topics_and_read_its_stream(
    tenant: Tenant,
) -> None:
    component = render(tenant).files["kustomization.yaml"]
    assert _patched_acls(component, "insats-gateway") == {
        *((topic, "literal", ("Write", "Describe")) for topic in tenant.writes()),
        (tenant.answers_topic(), "literal", ("Read", "Describe")),
    }


def test_the_command_writes_the_component(tmp_path: Path) -> None:
    tenant = Tenant.owner("samordningsforbundet-halland")
    result = CliRunner().invoke(
        app, ["tenant", "manifest", "owner", tenant.id, "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert files(tmp_path / tenant.username) == render(tenant).files


@pytest.mark.parametrize(
    ("kind", "ident", "reason"),
    [
        ("municipality", "9999", "no kommunkod"),
        ("partner", "second_hand", "not a Kubernetes resource name"),
        ("partner", "Second-Hand", "not a valid partner id"),
    ],
)
def test_the_command_refuses_a_tenant_it_cannot_deploy(
    tmp_path: Path, kind: str, ident: str, reason: str
) -> None:
    result = CliRunner().invoke(app, ["tenant", "manifest", kind, ident, "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert reason in " ".join(result.output.replace("│", " ").split())
    assert list(tmp_path.iterdir()) == []


def test_an_undeployable_tenant_is_refused_before_anything_is_rendered() -> None:
    with pytest.raises(NotDeployable):
        render(Tenant.partner("ends-with-"))
