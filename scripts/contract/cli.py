"""`insats contract generate | check | validate`. Registered in scripts/cli.py; the generation
itself is imported only when a command runs, so the other commands start as fast as before."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

contract_app = typer.Typer(
    help="The published event contract: AsyncAPI documents, JSON Schemas, compatibility.",
    no_args_is_help=True,
)

_POLICY = "docs/contract/README.md"


def published_only() -> frozenset[str]:
    """Event types no outside system publishes: those without an inbound channel."""
    from shared.contracts.registry import EVENT_TYPES

    return frozenset(name for name, model in EVENT_TYPES.items() if model.CHANNEL is None)


@contract_app.command("generate")
def generate(
    allow_breaking: Annotated[
        bool,
        typer.Option(
            "--allow-breaking",
            help="Write even if a published version changed incompatibly: only to retire a "
            "version whose transition period is over, or for a type never released.",
        ),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(help="Write into this folder instead of docs/contract."),
    ] = None,
) -> None:
    """Regenerate docs/contract from shared/contracts and the services' FastStream apps."""
    from scripts.contract.compatibility import breaking_changes, compare
    from scripts.contract.published import CONTRACT_DIR, build, load_schemas, write

    contract = build()
    published = load_schemas(CONTRACT_DIR)
    changes = compare(published, contract.schemas, published_only()) if published else []
    broken = breaking_changes(changes)
    for change in changes:
        typer.echo(str(change))
    if broken and not allow_breaking:
        typer.echo(
            f"\n{len(broken)} breaking change(s) to published versions: nothing written. Publish "
            f"a new version beside the old one instead (see {_POLICY}).",
            err=True,
        )
        raise typer.Exit(1)
    target = out or CONTRACT_DIR
    touched = write(contract.files(), target)
    typer.echo(f"{len(touched)} file(s) written or removed in {target}")
    for path in touched:
        typer.echo(f"  {path}")


@contract_app.command("check")
def check(
    against: Annotated[
        str | None,
        typer.Option(
            help="A git ref whose committed schemas are the baseline (e.g. origin/main in a pull "
            "request); by default the schemas in docs/contract/schemas.",
        ),
    ] = None,
) -> None:
    """Fail if a published version changed incompatibly, or if docs/contract is out of date."""
    from scripts.contract.compatibility import breaking_changes, compare
    from scripts.contract.published import (
        CONTRACT_DIR,
        REGENERATE,
        build,
        differences,
        load_schemas,
        load_schemas_at,
    )

    contract = build()
    try:
        published = load_schemas_at(against) if against else load_schemas(CONTRACT_DIR)
    except ValueError as error:
        typer.echo(f"no published schemas at {against}: {error}", err=True)
        raise typer.Exit(2) from None
    failed = False
    if not published:
        typer.echo("no published schemas to compare with", err=True)
        failed = True
    changes = compare(published, contract.schemas, published_only())
    for change in changes:
        typer.echo(str(change))
    broken = breaking_changes(changes)
    if broken:
        typer.echo(
            f"{len(broken)} breaking change(s) to published versions: publish a new version "
            f"beside the old one (see {_POLICY}).",
            err=True,
        )
        failed = True
    stale = differences(contract.files(), CONTRACT_DIR)
    if stale:
        typer.echo("\n".join(stale))
        typer.echo(f"docs/contract is out of date: run `{REGENERATE}` and commit it.", err=True)
        failed = True
    if failed:
        raise typer.Exit(1)
    typer.echo(f"contract compatible and up to date ({len(contract.schemas)} event types)")


@contract_app.command("validate")
def validate(
    documents: Annotated[
        list[Path] | None,
        typer.Argument(help="AsyncAPI documents; by default docs/contract/asyncapi/*.json"),
    ] = None,
) -> None:
    """Parse the AsyncAPI documents with the AsyncAPI project's parser (installs it if needed)."""
    from scripts.contract import official_parser
    from scripts.contract.published import CONTRACT_DIR

    paths = documents or sorted((CONTRACT_DIR / "asyncapi").glob("*.json"))
    result = official_parser.validate(paths)
    typer.echo(result.stdout, nl=False)
    typer.echo(result.stderr, nl=False, err=True)
    raise typer.Exit(result.returncode)
