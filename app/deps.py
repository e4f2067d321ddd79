"""Request dependencies, as ``Annotated`` aliases."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session

from app.db import get_session_factory
from app.settings import Settings, get_settings


def get_session() -> Iterator[Session]:
    """One session per request, committed once when the endpoint returns (before the
    response is sent), rolled back if it raised."""
    session = get_session_factory()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]
