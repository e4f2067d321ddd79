"""Request dependencies, as ``Annotated`` aliases."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session

from app.db import session_scope
from app.settings import Settings, get_settings


def get_session() -> Iterator[Session]:
    """One session per request, committed once when the endpoint returns (before the
    response is sent: the dependency's scope is the function), rolled back if it raised."""
    with session_scope() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]
