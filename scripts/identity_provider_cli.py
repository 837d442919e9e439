"""`insats identity-provider client|person`: API clients and people in the local identity
provider (Keycloak), whose tokens name the tenant they act for in the claim `insats_tenant`."""

from __future__ import annotations

import asyncio
import secrets
from typing import Annotated

import typer
from rich.console import Console

from scripts.stack import Stack
from scripts.stack.identity import IdentityConflict, IdentityProvider
from scripts.stack.keycloak_realm import ROLES
from shared.contracts.tenants import InvalidTenant, Tenant

identity_provider_app = typer.Typer(
    help="API clients and people in the local OIDC identity provider (Keycloak)."
)
# Never wrapped: a secret or URL broken over two lines is copied wrong.
console = Console(soft_wrap=True)

_TENANT = typer.Argument(help="The tenant key, e.g. municipality:1384 or partner:erikshjalpen")


def _tenant(key: str) -> Tenant:
    try:
        return Tenant.from_key(key)
    except (InvalidTenant, ValueError) as problem:
        raise typer.BadParameter(f"{key}: {problem}") from None


def _provider() -> IdentityProvider:
    stack = Stack()
    if not asyncio.run(stack.keycloak.answers()):
        console.print(
            f"[bold red]The identity provider does not answer on {stack.keycloak.url}: "
            "run `insats stack up`.[/]"
        )
        raise typer.Exit(1)
    return IdentityProvider(stack.keycloak)


@identity_provider_app.command("client")
def client(
    tenant_key: Annotated[str, _TENANT],
    client_id: Annotated[
        str | None, typer.Option(help="Default: api-<kind>-<id>, e.g. api-municipality-1384")
    ] = None,
) -> None:
    """Register an API client for the tenant (or find it) and print its credentials."""
    tenant = _tenant(tenant_key)
    provider = _provider()
    try:
        registered = provider.register_api_client(tenant, client_id)
    except IdentityConflict as problem:
        raise typer.BadParameter(str(problem)) from None
    console.print(f"client id {registered.client_id} for {tenant.key} (client credentials)")
    console.print(f"secret {registered.secret}")
    console.print(f"token URL {registered.token_url}")
    console.print(f"issuer {provider.issuer}")


@identity_provider_app.command("person")
def person(
    tenant_key: Annotated[str, _TENANT],
    username: Annotated[str, typer.Argument(help="The person's username")],
    role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}")],
) -> None:
    """Register a person of the tenant (or update them) with a generated password; print it.

    They log in through the portal's client, insats-portal (authorization code flow).
    """
    tenant = _tenant(tenant_key)
    if role not in ROLES:
        raise typer.BadParameter(f"--role must be one of {', '.join(ROLES)}")
    provider = _provider()
    password = secrets.token_urlsafe(12)
    try:
        provider.register_person(tenant, username, password, role)
    except IdentityConflict as problem:
        raise typer.BadParameter(str(problem)) from None
    console.print(f"{username} ({role}) of {tenant.key} in {provider.issuer}")
    console.print(f"password {password}")
