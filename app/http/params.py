"""Whole numbers in paths and query strings, read as strictly as numbers in bodies:
digits only, so ``1_0``, ``+1``, ``1.0`` and `` 1`` are not numbers (Python's ``int``
would read ``1_0`` as 10)."""

from pydantic import BeforeValidator


def _digits(value: object) -> object:
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise ValueError(f"expected a whole number written in digits; received {value!r}")
    return value


Digits = BeforeValidator(_digits)
