"""The files under docs/contract: rendered from the code, written, and compared with the committed
ones. README.md there is written by hand; the generator owns index.json, asyncapi/ and schemas/."""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.contract.asyncapi import Document, home_address, service_documents, types_by_action
from scripts.contract.schemas import Schema, event_schemas, subject_field
from shared.contracts import topics
from shared.contracts.registry import EVENT_TYPES
from shared.contracts.tenants import Channel, channel_address, kinds_writing
from shared.messaging import dead_letters

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_DIR = ROOT / "docs" / "contract"
GENERATED_FOLDERS = ("asyncapi", "openapi", "schemas")
INDEX = "index.json"
SCHEMAS_FOLDER = "schemas"
REGENERATE = "insats contract generate"


def dumps(value: Any) -> str:
    """Sorted keys, fixed indentation, a final newline: regenerating an unchanged contract gives
    the same bytes, and a change shows as a small diff."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class Contract:
    schemas: dict[str, Schema]
    documents: dict[str, Document]
    # The HTTP gateway's OpenAPI 3.1 document: the same event models as request bodies.
    openapi: dict[str, Any]

    def files(self) -> dict[str, str]:
        """Path under docs/contract -> content."""
        rendered = {
            f"{SCHEMAS_FOLDER}/{name}.json": dumps(schema) for name, schema in self.schemas.items()
        }
        rendered |= {
            f"asyncapi/{service}.json": dumps(document)
            for service, document in self.documents.items()
        }
        rendered["openapi/gateway.json"] = dumps(self.openapi)
        rendered[INDEX] = dumps(build_index(self.documents))
        return dict(sorted(rendered.items()))


def build() -> Contract:
    return Contract(
        schemas=event_schemas(), documents=service_documents(), openapi=gateway_openapi()
    )


def gateway_openapi() -> dict[str, Any]:
    from services.gateway.app import create_app
    from services.gateway.settings import GatewaySettings
    from shared.settings import Settings

    app = create_app(Settings(), GatewaySettings(oidc_issuer="https://idp.invalid/realms/insats"))
    return app.openapi()


def _version(event_type: str) -> tuple[str, int]:
    family, _, version = event_type.rpartition(".")
    digits = version.removeprefix("v")
    return family, int(digits) if digits.isdigit() else 0


def build_index(documents: Mapping[str, Document]) -> dict[str, Any]:
    published_by: dict[str, set[str]] = defaultdict(set)
    read_by: dict[str, set[str]] = defaultdict(set)
    for service, document in documents.items():
        for action, event_type in types_by_action(document):
            (published_by if action == "send" else read_by)[event_type].add(service)
    versions: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for name in EVENT_TYPES:
        family, number = _version(name)
        versions[family].append((number, name))
    events: dict[str, Any] = {}
    for name, model in sorted(EVENT_TYPES.items()):
        family, number = _version(name)
        inbound = model.CHANNEL is not None
        entry: dict[str, Any] = {
            "schema": f"{SCHEMAS_FOLDER}/{name}.json",
            # What outside systems publish travels on the sender's own topic of its channel.
            "topic": home_address(model),
            "key": "subject",
            "subject": subject_field(model),
            "version": number,
            "inbound": inbound,
            "published_by": sorted(published_by[name])
            or (["municipal or partner systems"] if inbound else []),
            "read_by": sorted(read_by[name]),
        }
        newer = sorted(other for other in versions[family] if other[0] > number)
        older = sorted(other for other in versions[family] if other[0] < number)
        if inbound:
            entry["channel"] = model.CHANNEL
            entry["shared_topic_while_migrating"] = model.TOPIC
        if newer:
            entry["superseded_by"] = newer[-1][1]
        if older:
            entry["supersedes"] = older[-1][1]
        events[name] = entry
    topic_entries: dict[str, Any] = {}
    for channel in Channel:
        topic_entries[channel_address(channel)] = {
            "inbound": True,
            "written_by": [kind.value for kind in kinds_writing(channel)],
            "key": "the envelope's subject",
            "types": sorted(n for n, model in EVENT_TYPES.items() if channel == model.CHANNEL),
            "configuration": "message.timestamp.type=LogAppendTime, max.message.bytes bounded"
            + ("; short retention: clear personnummer" if channel is Channel.REFERRALS else ""),
        }
    for topic in topics.ALL_TOPICS:
        if topic in topics.INBOUND_TOPICS:
            topic_entries[topic] = {
                "inbound": True,
                "shared_while_migrating": True,
                "read_only_with": "INSATS_SHARED_INBOUND_TOPICS=true",
                "key": "the envelope's subject",
                "types": sorted(n for n, model in EVENT_TYPES.items() if topic == model.TOPIC),
            }
            continue
        topic_entries[topic] = {
            "inbound": False,
            "key": "the envelope's subject",
            "types": sorted(name for name, model in EVENT_TYPES.items() if topic == model.TOPIC),
        }
    for template in (
        topics.MUNICIPALITY_EVENTS_TEMPLATE,
        topics.PARTNER_PLACEMENTS_TEMPLATE,
        topics.OWNER_EVENTS_TEMPLATE,
    ):
        topic_entries[template] = {
            "inbound": False,
            "read_by": "that tenant alone",
            "key": "the envelope's subject",
            "types": sorted(
                {
                    name
                    for name, model in EVENT_TYPES.items()
                    if model.TOPIC in (template, topics.TENANT_STREAM_TEMPLATE)
                }
            ),
        }
    for service in documents:
        topic_entries[topics.dead_letter_topic(service)] = {
            "dead_letters_of": service,
            "key": "the original record's key",
            "headers": sorted(dead_letters.DLQ_HEADERS),
        }
    return {
        "$comment": f"Generated from shared/contracts by `{REGENERATE}`: do not edit by hand.",
        "asyncapi": {service: f"asyncapi/{service}.json" for service in documents},
        "headers": {
            "content-type": "application/cloudevents+json",
            "ce_id": "the envelope's id",
            "ce_type": "the envelope's type",
        },
        "events": events,
        "topics": topic_entries,
    }


# --- the files on disk ---------------------------------------------------------------------------


def generated_on_disk(folder: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    index = folder / INDEX
    if index.is_file():
        found[INDEX] = index.read_text(encoding="utf-8")
    for sub in GENERATED_FOLDERS:
        for path in sorted((folder / sub).glob("*.json")):
            found[f"{sub}/{path.name}"] = path.read_text(encoding="utf-8")
    return found


def differences(expected: Mapping[str, str], folder: Path) -> list[str]:
    """What differs between freshly generated files and those in `folder`, one line each."""
    present = generated_on_disk(folder)
    lines = []
    for path in sorted(set(expected) | set(present)):
        if path not in present:
            lines.append(f"missing: {path}")
        elif path not in expected:
            lines.append(f"no longer generated: {path}")
        elif present[path] != expected[path]:
            lines.append(f"out of date: {path}")
    return lines


def write(files: Mapping[str, str], folder: Path) -> list[str]:
    """Write what changed and remove generated files that are no longer generated; returns the
    paths touched. Unchanged files are left alone, so their timestamps say nothing changed."""
    present = generated_on_disk(folder)
    touched = []
    for path in sorted(set(present) - set(files)):
        (folder / path).unlink()
        touched.append(path)
    for path, content in files.items():
        if present.get(path) == content:
            continue
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
        touched.append(path)
    return touched


def load_schemas(folder: Path) -> dict[str, Schema]:
    """The published JSON Schemas in `folder`, by event type."""
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted((folder / SCHEMAS_FOLDER).glob("*.json"))
    }


def load_schemas_at(ref: str) -> dict[str, Schema]:
    """The JSON Schemas committed at a git ref, e.g. the main branch a pull request goes into."""
    where = (CONTRACT_DIR / SCHEMAS_FOLDER).relative_to(ROOT).as_posix()
    listing = _git("ls-tree", "--name-only", f"{ref}:{where}")
    schemas = {}
    for name in listing.splitlines():
        if name.endswith(".json"):
            schemas[name.removesuffix(".json")] = json.loads(_git("show", f"{ref}:{where}/{name}"))
    return schemas


def _git(*args: str) -> str:
    result = subprocess.run(  # noqa: S603 - fixed arguments, no shell
        ["git", "-C", str(ROOT), *args],  # noqa: S607 - git from PATH, as a developer runs it
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ValueError(f"git {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout
