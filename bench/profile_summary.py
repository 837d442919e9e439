"""The hottest functions of py-spy profiles (speedscope JSON), as a table a person can read.

`python -m bench.e2e --profile` leaves one profile per process in `.local/bench/`; this prints,
for each, the CPU seconds sampled, the functions that were running in most samples (self time),
and the same time by package (pymongo, bson, asyncio, the database server's own code, ours).
py-spy samples a process only while it runs on a CPU (idle threads are left out), so the shares
say what a busy process is busy with.

    python -m bench.profile_summary .local/bench/profile-*-5000.json [--top 15]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Summary:
    cpu_seconds: float
    by_function: list[tuple[str, float]]
    by_package: list[tuple[str, float]]


def summarise(profile: dict[str, Any], top: int) -> Summary:
    frames = profile["shared"]["frames"]
    functions = [_function(frame) for frame in frames]
    packages = [package_of(frame.get("file") or "") for frame in frames]
    by_function: Counter[str] = Counter()
    by_package: Counter[str] = Counter()
    total = 0.0
    for thread in profile["profiles"]:
        for stack, weight in zip(thread["samples"], thread["weights"], strict=True):
            if not stack:
                continue
            total += weight
            by_function[functions[stack[-1]]] += weight
            by_package[packages[stack[-1]]] += weight
    if not total:
        return Summary(0.0, [], [])
    return Summary(
        total,
        [(name, weight / total) for name, weight in by_function.most_common(top)],
        [(name, weight / total) for name, weight in by_package.most_common(top)],
    )


def package_of(file: str) -> str:
    """The library a frame's code belongs to: the first folder below site-packages, the
    standard library, or this repository's top folder (services/..., shared)."""
    if "/" not in file and not file.startswith("<"):
        return "(frames py-spy could not name)"
    parts = Path(file).parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].removesuffix(".py")
    for top in ("services", "shared", "scripts", "bench"):
        if top in parts:
            index = parts.index(top)
            return "/".join(parts[index : index + 2]) if top == "services" else top
    if any(part.startswith("python3") for part in parts) or file.startswith("<frozen"):
        return "python standard library"
    return file


def _function(frame: dict[str, Any]) -> str:
    file = frame.get("file") or ""
    # The last two path parts say where a function is without the machine's paths.
    where = "/".join(Path(file).parts[-2:]) if file else "?"
    return f"{frame['name']} ({where})"


def render(path: Path, summary: Summary) -> str:
    lines = [f"## {path.name}: {summary.cpu_seconds:.1f} CPU seconds sampled", ""]
    lines += ["| self time | package |", "|---:|---|"]
    lines += [f"| {share:.0%} | {name} |" for name, share in summary.by_package]
    lines += ["", "| self time | function |", "|---:|---|"]
    lines += [f"| {share:.0%} | `{name}` |" for name, share in summary.by_function]
    return "\n".join(lines)


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("profiles", type=Path, nargs="+")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    for path in args.profiles:
        print(render(path, summarise(json.loads(path.read_text()), args.top)))
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(cli())
