"""One JSON Schema per event type: the whole envelope with its payload, as consumers receive it."""

from __future__ import annotations

import inspect
from typing import Any, cast

from pydantic import TypeAdapter

from shared.contracts.envelope import Envelope, EventData
from shared.contracts.registry import EVENT_TYPES
from shared.contracts.tenants import Channel, channel_address

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

Schema = dict[str, Any]


def subject_field(model: type[EventData]) -> str | None:
    """The payload field that is the envelope's subject (and so the Kafka key), e.g.
    "data.participant_id"; None when subject() is not one field as it is.

    Read off subject() itself rather than declared a second time, so the documents cannot drift
    from what the producers do: each field gets a value naming it, and the subject names one.
    """
    names = {name: f"<{name}>" for name in model.model_fields}
    probe = cast(Any, model).model_construct(**names)
    try:
        subject = probe.subject()
    except Exception:
        return None
    for name in model.model_fields:
        if subject == f"<{name}>":
            return f"data.{name}"
    return None


def event_schema(model: type[EventData]) -> Schema:
    envelope: Any = cast(Any, Envelope)[model]
    schema: Schema = TypeAdapter(envelope).json_schema()
    properties = schema["properties"]
    # The envelope model accepts any type string (the registry dispatches on it); for one event
    # type the value is fixed, and saying so lets a consumer tell the types apart by schema alone.
    properties["type"] = {**properties["type"], "const": model.TYPE}
    key = subject_field(model)
    keyed_by = f"the envelope's subject ({key})" if key else "the envelope's subject"
    about = inspect.cleandoc(model.__doc__) if model.__doc__ else ""
    schema["$schema"] = JSON_SCHEMA_DIALECT
    schema["description"] = (
        f"{model.TYPE}: one record on the topic {home_topic(model)}, its key {keyed_by}. {about}"
    ).strip()
    return schema


def home_topic(model: type[EventData]) -> str:
    """Its channel's tenant topics for what outside systems publish, else its own topic."""
    if model.CHANNEL is not None:
        return f"{channel_address(Channel(model.CHANNEL))} (the sender's own)"
    return model.TOPIC


def event_schemas() -> dict[str, Schema]:
    return {name: event_schema(EVENT_TYPES[name]) for name in sorted(EVENT_TYPES)}
