"""The published language of Insats: event payloads per producer, the envelope and the topics.

Everything a municipality's or partner's own consumer needs is here, and in the JSON Schema and
AsyncAPI documents generated from it (docs/contract/).
"""

from shared.contracts.envelope import ContractModel, Envelope, EventData, new_event
from shared.contracts.registry import EVENT_TYPES, UnreadableEvent, encode_event, parse_event

__all__ = [
    "EVENT_TYPES",
    "ContractModel",
    "Envelope",
    "EventData",
    "UnreadableEvent",
    "encode_event",
    "new_event",
    "parse_event",
]
