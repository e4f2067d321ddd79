"""Request dependencies, as ``Annotated`` aliases: the application's settings and
database (built once by ``create_app``), a session per request."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from app.core.db import Database
from app.core.errors import ErrorCode, Invalid
from app.core.settings import Settings


# Async: a plain read of the application's state, with no thread hop.
async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.db
    return database


def get_session(request: Request) -> Iterator[Session]:
    """One session per request, committed once when the endpoint returns (before the
    response is sent: the dependency's scope is the function), rolled back if it raised."""
    database: Database = request.app.state.db
    with database.session_scope() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]


async def known_query_parameters_only(request: Request) -> None:
    """Refuse query parameters the endpoint does not take, as the spec refuses unknown
    fields: ``?stauts=running`` must not silently list every job. (Async: it runs on
    every request, and a sync dependency would cost each one a thread hop.)"""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    known = _query_names(route.dependant)
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise Invalid(
            ErrorCode.INVALID_REQUEST,
            f"Unknown query parameters {unknown}; this endpoint takes {sorted(known) or 'none'}.",
            [
                {"field": name, "message": "unknown query parameter", "received": value}
                for name, value in request.query_params.items()
                if name in unknown
            ],
        )


def _query_names(dependant: Dependant) -> frozenset[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return frozenset(names)
