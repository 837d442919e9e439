"""The platform's services, named once, in the order data flows through them.

Everything that walks over the services (the CLI, the harness, the manifest validator, the
AsyncAPI generator, the dead-letter and outbox tools, the tests) reads this list, so adding or
renaming a service is one edit here and a package under services/.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Final

SERVICES: Final = ("intake", "placement", "outcomes")


def service_app(service: str) -> ModuleType:
    """The service's app module, whose create(settings) builds its runtime. Looked up by name
    so that shared code depends on no service (the import rules forbid it)."""
    if service not in SERVICES:
        raise ValueError(f"no service {service!r}: choose one of {', '.join(SERVICES)}")
    return importlib.import_module(f"services.{service}.app")
