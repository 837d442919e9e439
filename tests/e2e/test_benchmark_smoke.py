"""The benchmarks themselves work (make bench), at about 1,000 records: smoke tests with no timing
asserted."""

from __future__ import annotations

import re
import subprocess
import sys


def _benchmark(*arguments: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", *arguments],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_the_benchmark_runs_end_to_end_and_prints_its_table(local_stack: object) -> None:
    result = _benchmark("bench.e2e", "--sizes", "1000", "--quick")
    assert "| 1,000 |" in result.stdout
    assert "pipeline / baseline" in result.stdout
    assert "rebuild / baseline" in result.stdout
    # The rebuild's peak memory follows the three services' (it folds the history in memory).
    assert re.search(r"\| \d+, \d+, \d+; \d+ \|", result.stdout)
    assert "Publish-to-offer latency" in result.stdout
    assert "- referral to enrolment (intake): p50" in result.stdout
    assert "- enrolment to offer (placement): p50" in result.stdout
    # Each service's CPU during the run is measured (the stack's own processes where it started
    # them, "-" where a server it found running belongs to someone else).
    assert re.search(r"- N=1,000: \d+\.\d\d, \d+\.\d\d, \d+\.\d\d, ", result.stdout)


def test_the_rebuild_benchmark_runs_and_prints_its_table(local_stack: object) -> None:
    result = _benchmark("bench.rebuild", "--sizes", "1000")
    assert "in memory / baseline" in result.stdout
    # Both ways of folding ran over the same ~1,000 records and each printed its rate.
    assert re.search(
        r"\| 998 \| [\d,]+ \| [\d,]+ \| \d+% \| [\d,]+ \| \d+% \| \d+ \|", result.stdout
    )
