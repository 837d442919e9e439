"""bench/profile_summary.py turns py-spy's speedscope profiles into the table the README quotes."""

from __future__ import annotations

from typing import Any

from bench.profile_summary import package_of, summarise


def _profile() -> dict[str, Any]:
    frames = [
        {"name": "main", "file": "/repo/services/intake/app.py"},
        {"name": "insert", "file": "/venv/lib/python3.11/site-packages/pymongo/collection.py"},
        {"name": "select", "file": "/usr/lib/python3.11/selectors.py"},
    ]
    return {
        "shared": {"frames": frames},
        "profiles": [
            # 3 s in pymongo under main, 1 s in main itself, 1 s waiting in select.
            {"samples": [[0, 1], [0], [0, 2], []], "weights": [3.0, 1.0, 1.0, 7.0]},
        ],
    }


def test_self_time_is_shared_out_by_the_innermost_function() -> None:
    summary = summarise(_profile(), top=10)
    assert summary.cpu_seconds == 5.0
    assert summary.by_function == [
        ("insert (pymongo/collection.py)", 0.6),
        ("main (intake/app.py)", 0.2),
        ("select (python3.11/selectors.py)", 0.2),
    ]
    assert summary.by_package == [
        ("pymongo", 0.6),
        ("services/intake", 0.2),
        ("python standard library", 0.2),
    ]


def test_frames_are_attributed_to_their_library() -> None:
    assert package_of("/x/site-packages/secantus/storage.py") == "secantus"
    assert package_of("/x/site-packages/six.py") == "six"
    assert package_of("/work/main/shared/messaging/relay.py") == "shared"
    assert package_of("<frozen runpy>") == "python standard library"
    assert package_of("l") == package_of("") == "(frames py-spy could not name)"
