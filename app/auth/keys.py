"""Create, list, revoke and verify API keys.

A key is ``snt_<id>_<secret>``: its id is public (it names the key in listings and
owns its jobs), the secret is 32 random bytes. Only the SHA-256 of the whole key
is stored; a key is found by that hash and the hashes are compared in constant
time. (A slow password hash buys nothing for 256-bit random secrets.)
"""

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from app.auth.models import ApiKey, Scope
from app.core.errors import Conflict, ErrorCode, Invalid, NotFound
from app.core.settings import Settings
from app.core.types import utcnow

KEY_PREFIX = "snt_"
OPERATOR_KEY_ID = "operator"  # the key set in SENTIMENT_ADMIN_KEY


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key's id, name and scopes."""

    key_id: str
    name: str
    scopes: frozenset[Scope]

    @property
    def is_admin(self) -> bool:
        return Scope.admin in self.scopes

    def allows(self, scope: Scope) -> bool:
        return self.is_admin or scope in self.scopes

    def may_see(self, owner_key_id: str | None) -> bool:
        """Whether this caller may see what ``owner_key_id`` made: its own, or an admin."""
        return self.is_admin or owner_key_id == self.key_id


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def create_key(session: Session, name: str, scopes: Iterable[Scope]) -> tuple[ApiKey, str]:
    """A new key: its row, and the key itself (shown once, never stored)."""
    wanted = sorted({Scope(scope) for scope in scopes})
    if not wanted:
        raise Invalid(
            ErrorCode.INVALID_REQUEST, "expected at least one scope: predict, train, admin"
        )
    key_id = secrets.token_hex(6)
    key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    row = ApiKey(
        id=key_id, name=name, key_hash=hash_key(key), scopes=",".join(wanted), created_at=utcnow()
    )
    session.add(row)
    session.flush()
    return row, key


def list_keys(session: Session) -> Sequence[ApiKey]:
    return session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)).all()


def revoke_key(
    session: Session, key_id: str, caller: Principal | None = None, operator_key: bool = False
) -> ApiKey:
    """Revoke a key at once. Over HTTP (``caller`` set) an admin cannot revoke its own
    key; and nobody can revoke the last admin key unless an operator key
    (``SENTIMENT_ADMIN_KEY``) stays: getting back in would need the database's shell."""
    if caller is not None and caller.key_id == key_id:
        raise Conflict(
            ErrorCode.OWN_KEY,
            "An admin cannot revoke the key it is calling with; revoke it with another "
            "admin key (or python -m app.auth revoke).",
        )
    if session.get_bind().dialect.name == "postgresql":
        # Serialize revocations, so two admins cannot each revoke the other's last key.
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext('api_keys'))"))
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(ErrorCode.KEY_NOT_FOUND, f"No API key with id {key_id!r}.")
    if row.revoked_at is None:
        if Scope.admin in row.scope_set and not operator_key and _active_admins(session) <= 1:
            raise Conflict(
                ErrorCode.LAST_ADMIN_KEY,
                f"Key {key_id} is the last active admin key; make another admin key "
                "first (POST /v1/keys), or nobody could manage keys any more.",
            )
        session.execute(update(ApiKey).where(ApiKey.id == key_id).values(revoked_at=utcnow()))
        session.refresh(row)
    return row


def _active_admins(session: Session) -> int:
    active = session.scalars(select(ApiKey.scopes).where(ApiKey.revoked_at.is_(None))).all()
    return sum(Scope.admin.value in scopes.split(",") for scopes in active)


def verify(session: Session, key: str, settings: Settings) -> Principal | None:
    """The principal a presented key stands for, or None (unknown or revoked)."""
    presented = hash_key(key)
    if settings.admin_key is not None:
        operator = hash_key(settings.admin_key.get_secret_value())
        if hmac.compare_digest(presented, operator):
            return Principal(
                OPERATOR_KEY_ID, "operator (SENTIMENT_ADMIN_KEY)", frozenset({Scope.admin})
            )
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == presented))
    if row is None or not hmac.compare_digest(row.key_hash, presented) or row.revoked_at:
        return None
    return Principal(row.id, row.name, row.scope_set)


def bootstrap_admin_key(session: Session, settings: Settings) -> str | None:
    """At first start of a fresh install (no keys, none configured), an admin key to
    print once. None when there are keys already, or the operator set one or opted out."""
    if settings.admin_key is not None or not settings.bootstrap_admin_key:
        return None
    if session.scalar(select(func.count()).select_from(ApiKey)):
        return None
    _, key = create_key(session, "local admin (made at first start)", [Scope.admin])
    return key


class KeyCache:
    """Keys verified recently, by hash, for ``ttl`` seconds: most requests then need
    no database read. A revocation clears the entry in the process that made it at
    once; other processes drop it within ``ttl``. Unknown keys are never cached."""

    def __init__(self, ttl: float, max_entries: int = 10_000) -> None:
        self.ttl, self.max_entries = ttl, max_entries
        self._entries: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()

    def get(self, key_hash: str) -> Principal | None:
        with self._lock:
            found = self._entries.get(key_hash)
            if found is None or found[1] < time.monotonic():
                return None
            return found[0]

    def put(self, key_hash: str, principal: Principal) -> None:
        if self.ttl <= 0:
            return
        now = time.monotonic()
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries = {h: e for h, e in self._entries.items() if e[1] >= now}
                if len(self._entries) >= self.max_entries:
                    self._entries.clear()
            self._entries[key_hash] = (principal, now + self.ttl)

    def forget(self, key_id: str) -> None:
        with self._lock:
            self._entries = {h: e for h, e in self._entries.items() if e[0].key_id != key_id}
