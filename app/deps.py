"""Request dependencies, as ``Annotated`` aliases."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from app.db import session_scope
from app.errors import ApiError
from app.settings import Settings, get_settings


def get_session() -> Iterator[Session]:
    """One session per request, committed once when the endpoint returns (before the
    response is sent: the dependency's scope is the function), rolled back if it raised."""
    with session_scope() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]


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
        raise ApiError(
            422,
            "invalid_request",
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
