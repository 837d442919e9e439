"""A breaking change published the way the versioning policy says: insats.referral.rejected.v2
beside v1 on insats.intake.events, for a transition period, with v1's consumers unaffected.

THIS TEST FAILS UNTIL INTAKE DUAL-PUBLISHES. The contract side is done (ReferralRejectedV2 and
referral_rejected_v2 in shared/contracts/intake.py, registered in the registry); intake still
publishes only v1. The wiring in services/intake/handlers.py: wherever a ReferralRejected envelope
is emitted (in _reject and in on_unreadable_referral), keep that envelope as `v1` and emit right
after it, in the same handler call (same transaction, so v2 follows v1 on the partition),

    ctx.emit(new_event(referral_rejected_v2(event), source=SOURCE, municipality=...,
                       cause=<the same cause as v1, if any>, time=v1.time))

and where v1 has an explicit event_id, give v2
event_id=derive_event_id(record.coordinates, ReferralRejectedV2.TYPE). In services/intake/app.py
declare it: runtime.publishes(..., ReferralRejected, ReferralRejectedV2, ...). Then run
`insats contract generate`: intake's AsyncAPI document and index.json gain the v2 publisher.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from jsonschema import Draft202012Validator

from scripts.contract.published import CONTRACT_DIR, load_schemas
from scripts.harness import Publisher, wait_settled
from services.intake.personnummer import format_with_check
from shared.contracts import topics
from shared.contracts.intake import ReferralRejected, ReferralRejectedV2, referral_rejected_v2
from shared.contracts.registry import parse_event
from shared.contracts.tenants import Channel
from shared.settings import Settings
from tests.support import event, outcomes_store, publish, raw_records, running, tenant_topic
from tests.unit.factories import programme, referral

V1 = ReferralRejected.TYPE
V2 = ReferralRejectedV2.TYPE


async def _rejected_count(settings: Settings, programme_id: str) -> int:
    async with outcomes_store(settings) as store:
        return await store.rejected_referrals(programme_id)


Record = tuple[bytes | None, dict[str, Any], dict[str, bytes]]


def _by_subject(records: list[Record], event_type: str) -> dict[str, Record]:
    found: dict[str, Record] = {}
    for record in records:
        if record[1]["type"] == event_type:
            assert record[1]["subject"] not in found, f"two {event_type} for one subject"
            found[record[1]["subject"]] = record
    return found


async def test_a_rejection_is_published_as_v1_and_v2_and_v1_consumers_see_no_difference(
    env: dict[str, str], settings: Settings
) -> None:
    too_old = referral(referral_id="1380-old", personnummer=format_with_check(date(1950, 1, 1), 10))
    async with running("intake", env), running("outcomes", env):
        await publish(settings, event(programme()))
        await wait_settled(settings, services=["intake", "outcomes"])
        await publish(settings, event(too_old))
        async with Publisher(settings) as raw:
            await raw.send_raw(
                tenant_topic(Channel.REFERRALS), b'{"type": "insats.refer', b"1380-bad"
            )
            await raw.flush()
        await wait_settled(settings, services=["intake", "outcomes"])

    records: list[Record] = [
        (key, json.loads(value), headers)
        for key, value, headers in await raw_records(settings, topics.INTAKE_EVENTS)
    ]
    v1 = _by_subject(records, V1)
    v2 = _by_subject(records, V2)
    assert len(v1) == 2, f"expected two {V1} (too old, unreadable), found {sorted(v1)}"
    assert sorted(v2) == sorted(v1), (
        f"intake published {V2} for {sorted(v2)}, {V1} for {sorted(v1)}: it does not "
        "dual-publish yet (see this module's docstring for the wiring)"
    )
    for subject, (v1_key, v1_document, v1_headers) in v1.items():
        v2_key, v2_document, v2_headers = v2[subject]
        # The same rejection under the same key: both versions share a partition and its order.
        assert v1_key == v2_key == subject.encode()
        assert v1_document["causationid"] == v2_document["causationid"]
        assert v1_document["time"] == v2_document["time"]  # lets a consumer of both pair them
        assert v1_document["id"] != v2_document["id"]
        assert (v1_headers["ce_type"], v2_headers["ce_type"]) == (V1.encode(), V2.encode())
        assert v2_headers["ce_id"] == v2_document["id"].encode()
        v1_event = parse_event(json.dumps(v1_document).encode())
        assert isinstance(v1_event.data, ReferralRejected)
        v2_event = parse_event(json.dumps(v2_document).encode())
        assert v2_event.data == referral_rejected_v2(v1_event.data)

    # A plain consumer of v1 filters on the type and finds what it always found.
    old_v1 = v1["1380-old"][1]["data"]
    assert (old_v1["reason"], old_v1["rule"]) == ("AGE_OUT_OF_RANGE", "eligibility.age")
    assert old_v1["message"]
    assert old_v1["message_sv"]
    unreadable = [record[1]["data"] for subject, record in v1.items() if subject != "1380-old"]
    assert [data["reason"] for data in unreadable] == ["INVALID_JSON"]
    # Outcomes subscribes to v1 only: it counted one rejection, not two, and dead-lettered nothing.
    assert await _rejected_count(settings, "halmstad-150") == 1
    assert await raw_records(settings, topics.dead_letter_topic("outcomes")) == []

    # Every record on the topic is what its committed JSON Schema says.
    schemas = load_schemas(CONTRACT_DIR)
    for _, document, _ in records:
        validator = Draft202012Validator(schemas[document["type"]])
        errors = [error.message for error in validator.iter_errors(document)]
        assert errors == [], (document["type"], errors)
