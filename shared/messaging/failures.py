"""How a failure is described where operators and senders see it: dead-letter headers, answers,
logs. Never with the input's values, which may hold a personnummer: an exception's own text
often repeats what it failed on (a KeyError names the key, a ValueError the value)."""

from __future__ import annotations

import traceback
from pathlib import Path

from pydantic import ValidationError


def describe_validation(error: ValidationError, limit: int = 5) -> str:
    """'data.personnummer: Field required; time: Input should have timezone info'."""
    parts = []
    for item in error.errors(include_url=False, include_input=False, include_context=False)[:limit]:
        location = ".".join(str(part) for part in item["loc"])
        parts.append(f"{location}: {item['msg']}" if location else str(item["msg"]))
    return "; ".join(parts)


def describe_failure(error: BaseException) -> str:
    """The kind of failure and where in the code it happened, without its message."""
    if isinstance(error, ValidationError):
        return f"ValidationError: {describe_validation(error)}"
    frames = traceback.extract_tb(error.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(error).__name__}{where}"
