"""AsyncAPI 3.0 documents generated from the services' FastStream apps, completed where FastStream
cannot know what the records look like on the wire.

One document per service, not one for the platform: an AsyncAPI 3 document describes one
application, and its send and receive operations are that application's. Each service is deployed,
scaled and given its Kafka user and ACLs on its own, so its document says exactly what it reads and
writes. A combined document would either list a topic once per subscriber or need its channels
merged by hand, far from what FastStream generates; the platform-wide view (which type lives on
which topic, who publishes and who reads it) is docs/contract/index.json.

What FastStream generates is kept, and completed:
- every message documents its Kafka key (the envelope's subject) in the kafka message binding, and
  its headers (content-type, ce_id, ce_type) as a headers schema;
- every channel names its topic in the kafka channel binding;
- a subscriber's payload is one envelope: the batch is how Insats fetches, not what a record is;
- envelope schemas carry their type as a constant and have one readable name each;
- the correlation id points at the envelope's correlationid, which Insats sets, instead of a
  FastStream header it never writes;
- each service's dead-letter topic is documented with the headers it adds;
- the servers are the local stack and a production cluster with SCRAM, independent of the
  environment the generator runs in.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

from faststream.specification import AsyncAPI

from scripts.contract.schemas import subject_field
from shared.contracts import topics
from shared.contracts.envelope import EventData
from shared.contracts.registry import EVENT_TYPES
from shared.contracts.tenants import Channel, channel_address, channel_pattern, kinds_writing
from shared.messaging import dead_letters
from shared.services import SERVICES, service_app
from shared.settings import ExplicitSettings, Settings

# The event types carry their own versions; this one numbers the documents' shape.
DOCUMENT_VERSION = "1.0.0"
KAFKA_BINDING_VERSION = "0.4.0"  # the version FastStream uses for its channel bindings
CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json"
REPLAYED_FROM = dead_letters.H_REPLAYED_FROM

Document = dict[str, Any]
_SCHEMAS = "#/components/schemas/"
_MESSAGES = "#/components/messages/"

_COMMON = """\
Generated from the service's FastStream app by `insats contract generate`: do not edit by hand.

Every record's value is one event envelope as JSON (CloudEvents structured mode); its key is the
envelope's subject (the aggregate id, so one participant's events stay in order) and its headers
are `content-type`, `ce_id` and `ce_type`. Delivery is at least once: deduplicate on the envelope
`id`. Types a consumer does not know, and fields it does not know, are to be skipped. A deployment
may prefix every topic name (INSATS_TOPIC_PREFIX); the names here are the contract.

One JSON Schema per event type: docs/contract/schemas/. Which type is on which topic, keyed by
what, published and read by whom: docs/contract/index.json. Versioning policy:
docs/contract/README.md.
"""


class ContractError(RuntimeError):
    """FastStream's output no longer has the shape this post-processing expects."""


def document_settings() -> Settings:
    # Placeholder secrets: intake refuses to start without them, and they never reach a document.
    return ExplicitSettings(
        pseudonym_key="contract-documents",
        audience_key="contract-documents",
        identity_master_key="00" * 32,
        topic_prefix="",
    )


def service_document(service: str) -> Document:
    module = service_app(service)
    runtime = module.create(document_settings(), configure_logs=False)
    about = (module.__doc__ or "").strip()
    generated = (
        AsyncAPI(
            runtime.broker,
            title=f"Insats {service}",
            version=DOCUMENT_VERSION,
            description=f"{about}\n\n{_COMMON}",
            license={"name": "Apache-2.0", "url": "https://www.apache.org/licenses/LICENSE-2.0"},
        )
        .to_specification()
        .to_jsonable()
    )
    addresses = {
        channel_pattern(c.subscription.channel): c.subscription.channel
        for c in runtime.consumers
        if c.subscription.channel is not None
    }
    return complete(generated, service, addresses)


def service_documents() -> dict[str, Document]:
    return {service: service_document(service) for service in SERVICES}


def complete(
    document: Document, service: str, channels: dict[str, Channel] | None = None
) -> Document:
    """FastStream's document with the wire details added (see the module docstring).
    `channels` maps each pattern a subscriber reads by to its inbound channel: the document
    shows the channel's topics as one parametrised address, not as the regular expression."""
    _address_channels(document, channels or {})
    components = document.setdefault("components", {})
    schemas: dict[str, Any] = components.setdefault("schemas", {})
    messages: dict[str, Any] = components.setdefault("messages", {})
    _name_envelopes_readably(document, schemas)
    _fix_envelope_types(schemas)
    channel_of_message = _channels_by_message(document)
    for operation in document.get("operations", {}).values():
        receiving = operation["action"] == "receive"
        for reference in operation.get("messages", []):
            _, message_key = _message_of(document, reference["$ref"])
            message = messages[message_key]
            if receiving:
                _unwrap_batch(message, schemas)
            address = channel_of_message[message_key]
            _describe_wire(message, schemas, address, receiving)
    for channel in document.get("channels", {}).values():
        channel.pop("servers", None)  # without a list, a channel is on every server
        kafka = channel.setdefault("bindings", {}).setdefault("kafka", {})
        kafka["topic"] = channel["address"]
        kafka.setdefault("bindingVersion", KAFKA_BINDING_VERSION)
        _describe_address_parameters(channel)
    _add_dead_letter_channel(document, service)
    _set_servers(document)
    return document


_CHANNEL_ADDRESSES = frozenset(channel_address(channel) for channel in Channel)


def _inbound(address: str) -> bool:
    """An address outside systems write to: a channel's tenant topics, or a shared one."""
    return address in _CHANNEL_ADDRESSES or address in topics.INBOUND_TOPICS


def home_address(model: type[EventData]) -> str:
    """Where a type travels: its channel's tenant topics, or its own topic."""
    return channel_address(Channel(model.CHANNEL)) if model.CHANNEL else model.TOPIC


def _address_channels(document: Document, channels: dict[str, Channel]) -> None:
    for channel in document.get("channels", {}).values():
        inbound = channels.get(channel.get("address", ""))
        if inbound is None:
            continue
        channel["address"] = channel_address(inbound)
        channel["parameters"] = {
            "tenant_kind": {
                "enum": [kind.value for kind in kinds_writing(inbound)],
                "description": "Who writes the topic: each tenant has its own, which only its "
                "Kafka user may write (shared/contracts/tenants.py).",
            },
            "tenant_id": {
                "description": "The tenant's id: a municipality's kommunkod, a programme "
                "owner's or a partner's id.",
            },
        }


def _describe_address_parameters(channel: dict[str, Any]) -> None:
    """A topic per partner (insats.partner.{partner_id}.placements) is one channel whose address
    has a parameter; AsyncAPI 3 wants every such parameter declared."""
    parameters = channel.setdefault("parameters", {})
    for name in re.findall(r"{([^{}]+)}", channel["address"]):
        parameters.setdefault(
            name, {"description": f"Part of the topic name: the {name.replace('_', ' ')}."}
        )
    if not parameters:
        del channel["parameters"]


# --- envelopes ---------------------------------------------------------------------------------


def _model_by_schema_title() -> dict[str, type[Any]]:
    return {f"{model.__name__}Event": model for model in EVENT_TYPES.values()}


def _name_envelopes_readably(document: Document, schemas: dict[str, Any]) -> None:
    """FastStream names an envelope "Envelope_X_" inside a union and "XEvent" alone: one name,
    the readable one, so one type is one schema in the document."""
    readable = _model_by_schema_title()
    renames: dict[str, str] = {}
    for key in sorted(schemas):
        title = schemas[key].get("title")
        if title in readable and key != title:
            renames[key] = title
    for old, new in renames.items():
        schema = schemas.pop(old)
        if new in schemas and _replace_refs(schemas[new], renames) != _replace_refs(
            schema, renames
        ):
            raise ContractError(f"two different schemas are both called {new}")
        schemas.setdefault(new, schema)
    _replace_refs_in_place(document, renames)


def _replace_refs(node: Any, renames: dict[str, str]) -> Any:
    """A copy of `node` with its schema references renamed."""
    if isinstance(node, dict):
        replaced = {key: _replace_refs(value, renames) for key, value in node.items()}
        reference = replaced.get("$ref")
        if isinstance(reference, str) and reference.startswith(_SCHEMAS):
            name = reference.removeprefix(_SCHEMAS)
            replaced["$ref"] = _SCHEMAS + renames.get(name, name)
        return replaced
    if isinstance(node, list):
        return [_replace_refs(item, renames) for item in node]
    return node


def _replace_refs_in_place(node: Any, renames: dict[str, str]) -> None:
    # In place, because the caller holds references into the document.
    if isinstance(node, dict):
        reference = node.get("$ref")
        if isinstance(reference, str) and reference.startswith(_SCHEMAS):
            name = reference.removeprefix(_SCHEMAS)
            node["$ref"] = _SCHEMAS + renames.get(name, name)
        for value in node.values():
            _replace_refs_in_place(value, renames)
    elif isinstance(node, list):
        for item in node:
            _replace_refs_in_place(item, renames)


def _fix_envelope_types(schemas: dict[str, Any]) -> None:
    for title, model in _model_by_schema_title().items():
        if title in schemas:
            kind = schemas[title]["properties"]["type"]
            schemas[title]["properties"]["type"] = {**kind, "const": model.TYPE}


# --- messages ----------------------------------------------------------------------------------


def _pointer_parts(reference: str) -> list[str]:
    """A local reference as the keys it walks: URI-decoded, then JSON-pointer-unescaped (a
    parametrised channel such as insats.partner.{partner_id}.placements is %7B-encoded)."""
    if not reference.startswith("#/"):
        raise ContractError(f"not a local reference: {reference}")
    return [
        unquote(part).replace("~1", "/").replace("~0", "~")
        for part in reference.removeprefix("#/").split("/")
    ]


def _message_of(document: Document, reference: str) -> tuple[str, str]:
    """'#/channels/C/messages/M' -> (C, the components.messages key that message refers to)."""
    parts = _pointer_parts(reference)
    if len(parts) != 4 or parts[0] != "channels" or parts[2] != "messages":
        raise ContractError(f"unexpected operation message reference {reference}")
    channel_id, message_name = parts[1], parts[3]
    target = _pointer_parts(document["channels"][channel_id]["messages"][message_name]["$ref"])
    if len(target) != 3 or target[:2] != ["components", "messages"]:
        raise ContractError(f"unexpected channel message reference in {channel_id}")
    return channel_id, target[2]


def _channels_by_message(document: Document) -> dict[str, str]:
    found: dict[str, str] = {}
    for channel in document.get("channels", {}).values():
        for message in channel.get("messages", {}).values():
            found[_pointer_parts(message["$ref"])[-1]] = channel["address"]
    return found


def _unwrap_batch(message: dict[str, Any], schemas: dict[str, Any]) -> None:
    """A batch subscriber's annotation is a list of envelopes; each record holds one."""
    reference = message["payload"].get("$ref", "")
    name = reference.removeprefix(_SCHEMAS)
    wrapper = schemas.get(name)
    if wrapper is None or wrapper.get("type") != "array" or "items" not in wrapper:
        return
    items = wrapper["items"]
    if "$ref" in items:
        message["payload"] = {"$ref": items["$ref"]}
        del schemas[name]
    else:
        schemas[name] = {"title": wrapper.get("title", name), **items}


def _envelope_titles(payload: dict[str, Any], schemas: dict[str, Any]) -> list[str]:
    reference = payload.get("$ref", "")
    # A reference is a URI fragment: a topic template's braces arrive percent-encoded.
    name = urllib.parse.unquote(reference.removeprefix(_SCHEMAS))
    schema = schemas.get(name, {})
    if name in _model_by_schema_title():
        return [name]
    branches = schema.get("anyOf") or schema.get("oneOf") or []
    return [branch["$ref"].removeprefix(_SCHEMAS) for branch in branches if "$ref" in branch]


def _describe_wire(
    message: dict[str, Any], schemas: dict[str, Any], address: str, receiving: bool
) -> None:
    readable = _model_by_schema_title()
    titles = _envelope_titles(message["payload"], schemas)
    if not titles or any(title not in readable for title in titles):
        raise ContractError(f"cannot tell the event types of message {message.get('title')}")
    models = sorted((readable[title] for title in titles), key=lambda model: model.TYPE)
    types = [model.TYPE for model in models]
    message["summary"] = " or ".join(types)
    message["contentType"] = CLOUDEVENTS_CONTENT_TYPE
    message["correlationId"] = {
        "description": "Shared by every event that one original input caused.",
        "location": "$message.payload#/correlationid",
    }
    message["headers"] = _headers(types, published_by_insats=not _inbound(address))
    if receiving:
        message["headers"]["description"] = " ".join(
            part
            for part in (
                message["headers"].get("description"),
                "This operation applies the types listed; other types on the topic are "
                + (
                    "dead-lettered (it is an inbound topic)."
                    if _inbound(address)
                    else "skipped, so producers can add types."
                ),
            )
            if part
        )
        message["headers"]["properties"][REPLAYED_FROM] = {
            "type": "string",
            "description": "Only on a dead letter an operator replayed with `insats dlq replay`: "
            "<dead-letter topic>:<partition>:<offset>. The record is otherwise the original.",
        }
    keys = [
        f"{model.TYPE}: {subject_field(model) or 'the subject'}"
        for model in models
        if address == home_address(model)
    ]
    message["bindings"] = {
        "kafka": {
            "bindingVersion": KAFKA_BINDING_VERSION,
            "key": {
                "type": "string",
                "description": "The envelope's subject as UTF-8 bytes, so one aggregate's events "
                "share a partition and stay in order. " + "; ".join(keys) + ".",
            },
        }
    }


def _headers(types: list[str], *, published_by_insats: bool) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "content-type": {
                "type": "string",
                "const": CLOUDEVENTS_CONTENT_TYPE,
                "description": "CloudEvents structured mode: the value is the whole envelope.",
            },
            "ce_id": {
                "type": "string",
                "format": "uuid",
                "description": "The envelope's id: deduplicate without parsing the value.",
            },
            "ce_type": {
                "type": "string",
                "enum": types,
                "description": "The envelope's type: filter without parsing the value.",
            },
        },
    }
    if published_by_insats:
        schema["required"] = ["content-type", "ce_id", "ce_type"]
    else:
        schema["description"] = (
            "Recommended to publishers. Insats reads everything from the value, so a record "
            "without these headers is accepted."
        )
    return schema


# --- dead letters and servers ------------------------------------------------------------------

_DEAD_LETTER_HEADERS = {
    dead_letters.H_CODE: "Why: unreadable input (INVALID_JSON, SCHEMA_VIOLATION, "
    "UNKNOWN_EVENT_TYPE), bad data the service refused (e.g. INVALID_PERSONNUMMER), or "
    "HANDLER_ERROR when handling kept failing after every retry.",
    dead_letters.H_REASON: "The reason in words (field names, never the values).",
    dead_letters.H_ATTEMPTS: "How often handling was tried, as a decimal number.",
    dead_letters.H_SERVICE: "The service that gave up on the record.",
    dead_letters.H_ORIGIN: "Where the original record sits: <topic>:<partition>:<offset>.",
    dead_letters.H_ORIGINAL_TOPIC: "The topic a replay publishes the record back to.",
    dead_letters.H_FAILED_AT: "When the service gave up, ISO 8601 with offset.",
}


def _add_dead_letter_channel(document: Document, service: str) -> None:
    address = topics.dead_letter_topic(service)
    channel_id = f"{service}.dead-letter"
    message_key = f"{channel_id}:DeadLetter"
    document.setdefault("channels", {})[channel_id] = {
        "address": address,
        "description": f"What {service} could not handle: the original record, unchanged, with "
        "the reason in headers. Inspect and replay with `insats dlq`.",
        "messages": {"DeadLetter": {"$ref": _MESSAGES + message_key}},
        "bindings": {"kafka": {"bindingVersion": KAFKA_BINDING_VERSION, "topic": address}},
    }
    document["components"]["messages"][message_key] = {
        "title": message_key,
        "summary": "The original record's key, value and headers, plus why it failed.",
        "contentType": "application/octet-stream",
        "payload": {
            "description": "The original record's value, byte for byte: often not valid JSON, "
            "which may be why it is here.",
        },
        "headers": {
            "type": "object",
            "description": "The original record's headers, kept, and these added.",
            "properties": {
                name: {"type": "string", "description": text}
                for name, text in _DEAD_LETTER_HEADERS.items()
            },
            "required": sorted(_DEAD_LETTER_HEADERS),
        },
        "bindings": {
            "kafka": {
                "bindingVersion": KAFKA_BINDING_VERSION,
                "key": {
                    "type": ["string", "null"],
                    "description": "The original record's key, unchanged.",
                },
            }
        },
    }
    document.setdefault("operations", {})[channel_id] = {
        "action": "send",
        "channel": {"$ref": f"#/channels/{channel_id}"},
        "messages": [{"$ref": f"#/channels/{channel_id}/messages/DeadLetter"}],
    }


def _set_servers(document: Document) -> None:
    document["servers"] = {
        "local": {
            "host": "127.0.0.1:9092",
            "protocol": "kafka",
            "description": "The local stack: `insats stack up` (or `make up`), no security.",
        },
        "production": {
            "host": "{bootstrap}",
            "protocol": "kafka-secure",
            "description": "A production cluster: TLS, and one SCRAM-SHA-512 user per service "
            "and per partner, given by the operator together with the bootstrap servers.",
            "variables": {
                "bootstrap": {"description": "The bootstrap servers the operator gives you."}
            },
            "security": [{"$ref": "#/components/securitySchemes/scram"}],
        },
    }
    document["components"]["securitySchemes"] = {
        "scram": {
            "type": "scramSha512",
            "description": "SASL/SCRAM-SHA-512 over TLS; ACLs limit each user to its topics.",
        }
    }


def types_by_action(document: Document) -> Iterator[tuple[str, str]]:
    """(action, event type) for every envelope message of the document's operations."""
    messages = document["components"]["messages"]
    for operation in document.get("operations", {}).values():
        for reference in operation.get("messages", []):
            _, message_key = _message_of(document, reference["$ref"])
            headers = messages[message_key].get("headers", {}).get("properties", {})
            for event_type in headers.get("ce_type", {}).get("enum", []):
                yield operation["action"], event_type
