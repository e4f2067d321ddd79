"""Key management over HTTP, for admin keys: create, list, revoke."""

from typing import Annotated

from fastapi import APIRouter, Path, Request

from app.auth import keys
from app.auth.deps import AdminKey
from app.auth.schemas import KeyIn, KeyOut, KeyPage, NewKeyOut
from app.core.db import after_commit
from app.http.deps import SessionDep, SettingsDep
from app.http.errors import error_responses

router = APIRouter(prefix="/v1/keys", tags=["keys"], responses=error_responses(401, 403, 422, 503))

KeyId = Annotated[str, Path(max_length=32, pattern=r"^[a-z0-9]+$", description="A key's id.")]


@router.post(
    "",
    status_code=201,
    response_model=NewKeyOut,
    summary="Create an API key",
    responses=error_responses(413),
)
def create_key(session: SessionDep, caller: AdminKey, body: KeyIn) -> NewKeyOut:
    row, key = keys.create_key(session, body.name, body.scopes)
    return NewKeyOut(**KeyOut.of(row).model_dump(), key=key)


@router.get("", response_model=KeyPage, summary="Every API key (never the keys themselves)")
def list_keys(session: SessionDep, caller: AdminKey) -> KeyPage:
    return KeyPage(items=[KeyOut.of(row) for row in keys.list_keys(session)])


@router.delete(
    "/{key_id}",
    response_model=KeyOut,
    summary="Revoke an API key (at once; its jobs stay)",
    responses=error_responses(
        404, 409, e404="No such key.", e409="Your own key, or the last admin key."
    ),
)
def revoke_key(
    request: Request, session: SessionDep, settings: SettingsDep, caller: AdminKey, key_id: KeyId
) -> KeyOut:
    operator_key = settings.admin_key is not None
    revoked = KeyOut.of(keys.revoke_key(session, key_id, caller, operator_key))
    # Once committed, at once in this process; other processes within the cache's TTL.
    after_commit(session, lambda: request.app.state.key_cache.forget(key_id))
    return revoked
