"""Types shared across the app: database columns, and text fields of requests."""

import re
import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator
from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"expected a timezone-aware datetime, received {value!r}")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_UNPAIRED_SURROGATE = re.compile("[\ud800-\udfff]")


def _encodable(text: str) -> str:
    """JSON may escape half a surrogate pair (``"\\ud800"``); such text is not valid
    Unicode and cannot be stored, tokenized or logged, so it is refused, not mangled."""
    found = None if text.isascii() else _UNPAIRED_SURROGATE.search(text)
    if found:
        raise ValueError(
            f"expected valid Unicode text; received an unpaired surrogate "
            f"(U+{ord(found.group()):04X}) at character {found.start()}"
        )
    return text


UnicodeText = Annotated[str, AfterValidator(_encodable)]


# Characters a name must not hold: controls (C0, C1: U+0085), format characters
# (text direction overrides such as U+202E, zero-width spaces and joiners), line and
# paragraph separators (U+2028, U+2029), and code points that are not characters.
# Any of them can forge or hide text in a log line, a listing or a terminal.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _visible(text: str) -> str:
    for position, character in enumerate(text):
        if unicodedata.category(character) in _INVISIBLE:
            name = unicodedata.name(character, "") or "a control character"
            raise ValueError(
                f"expected visible text (letters in any script, digits, punctuation, symbols, "
                f"spaces); received U+{ord(character):04X} ({name}) at character {position}"
            )
    return text


# A name people give a job, a sweep or a key: kept as they wrote it, in any script.
DisplayName = Annotated[UnicodeText, AfterValidator(_visible)]
