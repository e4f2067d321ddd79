"""Who may call what: FastAPI dependencies for authentication, scopes and rate limits.

``Authorization: Bearer <key>`` names the caller. A missing or unknown key gets
401 (with ``WWW-Authenticate: Bearer``), a key without the endpoint's scope 403.
The dependencies are async: a key verified in the last ``auth_cache_seconds``
costs no database read and no thread hop, which matters on the predict path.
"""

import math
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State

from app.auth.keys import KeyCache, Principal, hash_key, verify
from app.auth.models import Scope
from app.core.db import Database
from app.core.errors import ErrorCode, Forbidden, TooMany, Unauthenticated
from app.core.settings import Settings
from app.http.ratelimit import RateLimiter

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    description="An API key: `Authorization: Bearer snt_...` (see docs/security.md).",
)


def _unauthorized(message: str) -> Unauthenticated:
    return Unauthenticated(ErrorCode.UNAUTHORIZED, message)


def _lookup(database: Database, settings: Settings, key: str) -> Principal | None:
    with database.session_scope() as session:
        return verify(session, key, settings)


async def authenticate(request: Request) -> Principal | None:
    """The principal of the request's key; None when it sent none."""
    return await principal_of(request.headers.get("authorization"), request.app.state)


async def principal_of(header: str | None, state: State) -> Principal | None:
    """The principal of an ``Authorization`` header's key; None for no header."""
    if header is None:
        return None
    scheme, _, key = header.strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise _unauthorized(
            "expected the header 'Authorization: Bearer <key>'; received another form"
        )
    cache: KeyCache = state.key_cache
    digest = hash_key(key)
    principal = cache.get(digest)
    if principal is None:  # the database, off the event loop:
        principal = await run_in_threadpool(_lookup, state.db, state.settings, key)
        if principal is None:
            raise _unauthorized("The API key is not valid: it is unknown or revoked.")
        cache.put(digest, principal)
    return principal


async def caller(
    request: Request,
    declared: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Principal | None:
    """The key's principal; None when no Authorization header was sent. (``declared``
    only puts the bearer scheme on the endpoint in the OpenAPI document.)"""
    return await authenticate(request)


async def optional_caller(request: Request) -> Principal | None:
    """As ``caller``, for an open endpoint that tells a key's holder more."""
    return await authenticate(request)


CallerDep = Annotated[Principal | None, Depends(caller)]
OptionalCallerDep = Annotated[Principal | None, Depends(optional_caller)]


def check_scope(principal: Principal | None, *scopes: Scope) -> Principal:
    """``principal``, if it holds any one of ``scopes`` (admin holds all). It runs on
    every request, predictions included: the messages are built only for a refusal."""
    if principal is not None and any(principal.allows(scope) for scope in scopes):
        return principal
    names = " or ".join(f"'{scope}'" for scope in scopes)
    if principal is None:
        raise _unauthorized(
            f"This endpoint needs an API key with scope {names}: "
            "send 'Authorization: Bearer <key>'."
        )
    held = ", ".join(sorted(principal.scopes)) or "none"
    raise Forbidden(
        ErrorCode.FORBIDDEN, f"This endpoint needs a key with scope {names}; this key has: {held}."
    )


def require(*scopes: Scope) -> Callable[[Principal | None], Awaitable[Principal]]:
    """A dependency admitting keys with any one of ``scopes`` (admin admits all)."""

    async def dependency(principal: CallerDep) -> Principal:
        return check_scope(principal, *scopes)

    return dependency


def may_predict(settings: Settings, principal: Principal | None) -> Principal | None:
    """Predict needs a 'predict' key, unless the operator opened it (predict_public)."""
    if principal is None and settings.predict_public:
        return None
    return check_scope(principal, Scope.predict)


async def predict_caller(request: Request, principal: CallerDep) -> Principal | None:
    return may_predict(request.app.state.settings, principal)


def caller_id(principal: Principal | None, address: str | None) -> str:
    """Who is calling, for limits and fair shares: the key, or for anonymous callers
    (``SENTIMENT_PREDICT_PUBLIC``) the client's address."""
    return principal.key_id if principal else f"address {address or 'unknown'}"


def spend(state: State, action: str, principal: Principal | None, address: str | None) -> None:
    """Spend one of the caller's tokens for ``action`` (``TooMany`` when none is left);
    anonymous callers are counted by their ``address``."""
    limiter: RateLimiter = state.rate_limits[action]
    wait = limiter.acquire(caller_id(principal, address))
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise TooMany(
            ErrorCode.RATE_LIMITED,
            f"Too many {action} requests for this key: at most "
            f"{limiter.rate * 60:g} a minute. Retry in {seconds} s.",
            retry_after=seconds,
        )


def rate_limited(action: str) -> Callable[[Request, Principal | None], Awaitable[None]]:
    """A dependency spending one of the caller's tokens for ``action``."""

    async def dependency(request: Request, principal: CallerDep) -> None:
        spend(request.app.state, action, principal, request.client.host if request.client else None)

    return dependency


AdminKey = Annotated[Principal, Depends(require(Scope.admin))]
TrainKey = Annotated[Principal, Depends(require(Scope.train))]
AnyKey = Annotated[Principal, Depends(require(Scope.predict, Scope.train))]
