"""Reports anyone can re-run and verify, against the real broker and database: computed from
the event log with what they were computed from, verified after more events arrived, re-issued
as known before a late answer, and a file edited afterwards caught."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

from scripts.harness import wait_settled
from services.outcomes.provenance import (
    MANIFEST_SUFFIX,
    ReportRequest,
    export_verifiable,
    file_digest,
    verify,
)
from shared.contracts.vocabulary import FollowUpPoint, OutcomeStatus
from shared.settings import Settings
from tests.integration.test_outcomes_indicators import AS_OF, _answer, dataset, publish_dataset
from tests.support import event, insats, publish, running

LATE = _answer("p3", FollowUpPoint.MONTHS_6, OutcomeStatus.UNSUBSIDISED_WORK, income_support=False)


def _longer_term(folder: Path) -> str:
    """esf_langsiktigt_resultat@2's total row of the indicator file, as written."""
    rows = (folder / "kalmar-indikatorer.csv").read_text("utf-8").splitlines()
    return next(r for r in rows if ",esf_langsiktigt_resultat@2," in r and ",total," in r)


async def test_a_report_carries_its_sources_verifies_later_and_can_be_reissued_as_known_then(
    env: dict[str, str], settings: Settings, tmp_path: Path
) -> None:
    first, reissued, later = tmp_path / "first", tmp_path / "reissued", tmp_path / "later"
    request = ReportRequest(as_of=AS_OF, programme_ids=["kalmar"])
    async with running("outcomes", env):
        await publish_dataset(settings)
        written = await export_verifiable(settings, first, request)
        # Broker time has a millisecond's grain: the late answer is stamped after this moment.
        await asyncio.sleep(0.05)
        before_the_late_answer = datetime.now(UTC)
        await asyncio.sleep(0.05)
        await publish(settings, event(LATE, "0880"))
        await wait_settled(settings, services=["outcomes"])
    names = sorted(p.name for p in written)
    assert names == sorted(
        [
            "kalmar-deltagare.csv",
            "kalmar-indikatorer.csv",
            "kalmar-iop.csv",
            "kalmar-bidrag.csv",
            "kalmar-esf-plus.csv",
            "kalmar-ekonomi.csv",
            "kalmar.xlsx",
            f"kalmar{MANIFEST_SUFFIX}",
        ]
    )
    manifest = json.loads((first / f"kalmar{MANIFEST_SUFFIX}").read_text("utf-8"))
    assert manifest["as_of"] == AS_OF.isoformat()
    assert "esf_langsiktigt_resultat@2" in manifest["indicators"]
    read = {(span["topic"].split(".", 1)[1], span["partition"]) for span in manifest["log"]}
    assert ("insats.placement.events", 0) in read
    assert sum(span["end"] - span["start"] for span in manifest["log"]) >= len(dataset())
    assert set(manifest["files"]) == set(names) - {f"kalmar{MANIFEST_SUFFIX}"}

    # Kolada's figure for the municipality across its programmes, people once: 2 of 6.
    kolada = await export_verifiable(
        settings, first, ReportRequest(as_of=AS_OF, programmes=False, kolada_year=2026)
    )
    assert sorted(p.name for p in kolada) == [
        "kolada-2026-kalla.json",
        "kolada-resultat-vid-avslut-2026.csv",
    ]
    assert (first / "kolada-resultat-vid-avslut-2026.csv").read_text("utf-8").splitlines() == [
        "kommun,ar,omfattning,avslutade,resultat,andel",
        "0880,2026,alla program,6,2,0.3333",
        "0880,2026,kalmar,6,2,0.3333",
    ]

    # More events arrived; the report still verifies: the same records give the same files.
    assert (await verify(settings, first / "kolada-2026-kalla.json")).ok
    checked = await verify(settings, first / f"kalmar{MANIFEST_SUFFIX}")
    assert checked.ok and checked.manifest_intact
    assert all(f.reproduced and not f.edited for f in checked.files)
    # Exported now, the late answer is in; as known before it, the first report comes back.
    await export_verifiable(settings, later, request)
    assert _longer_term(later) != _longer_term(first)
    await export_verifiable(
        settings,
        reissued,
        ReportRequest(as_of=AS_OF, programme_ids=["kalmar"], known_before=before_the_late_answer),
    )
    for name in manifest["files"]:
        assert file_digest(reissued / name) == file_digest(first / name), name

    # A figure edited after the export is caught, by the command too.
    indicators = first / "kalmar-indikatorer.csv"
    indicators.write_text(
        indicators.read_text("utf-8").replace(_longer_term(first), _longer_term(later)), "utf-8"
    )
    caught = await verify(settings, first / f"kalmar{MANIFEST_SUFFIX}")
    assert not caught.ok
    assert [f.name for f in caught.files if f.edited] == ["kalmar-indikatorer.csv"]
    printed = await insats(
        env, "report", "verify", str(first / f"kalmar{MANIFEST_SUFFIX}"), exit_code=1
    )
    assert "kalmar-indikatorer.csv: edited since it was written" in printed
    assert "does not verify" in printed
