"""The one way a webhook body becomes data: when it is received, and again when processed.

Receiving and processing decode the same stored bytes with this one function,
so a body that was accepted can always be decoded again, and a body that can
never be decoded is refused with a 400 before it is stored (a 5xx would make
the provider retry it forever).

The rules, and why:

- UTF-8 only (RFC 8259 §8.1). One leading UTF-8 byte-order mark is skipped
  (the RFC lets a parser ignore it). UTF-16/32 and invalid UTF-8, including
  encoded surrogates (``ED A0 80``), are refused: ``json.loads`` would guess
  an encoding and let surrogates through, and nothing downstream could store them.
- At most ``MAX_DEPTH`` levels of nesting, checked before parsing: deeper
  input makes the parser recurse until ``RecursionError``.
- Integers of at most ``MAX_INT_DIGITS`` digits (Python refuses more than
  4,300 with a ``ValueError``, and nothing a provider sends is that long);
  finite numbers only (``1e999999`` would become ``inf``, ``NaN`` is not JSON).
- No duplicate keys: the signature covers the bytes, and a parser that keeps
  the first value would read another event than one that keeps the last.
- The top level is an object.
- ``\\u0000`` and unpaired surrogate escapes (``\\ud800``) are valid JSON but
  cannot go into a PostgreSQL text or jsonb value; they are replaced by
  U+FFFD instead of refused, because the string can be a reply we must act on
  (an opt-out) and the raw body is kept, encrypted, as it came.
"""

from __future__ import annotations

import json
import math
import operator
import re
from itertools import accumulate, repeat
from typing import Any

from equity_connect.errors import DomainError

MAX_DEPTH = 64
MAX_INT_DIGITS = 64

_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_JSON_SPACE = b" \t\r\n"
# Brackets inside strings are not nesting. Escapes go first, so that every
# string is then a plain "..." run and the scan stays linear even on an
# unterminated string full of escaped quotes.
_ESCAPE = re.compile(r"\\.", re.DOTALL)
_STRING = re.compile(r'"[^"]*"')
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
# An opening bracket steps one level in (2 - 1), a closing one out (0 - 1).
_STEPS = str.maketrans({"[": "\x02", "{": "\x02", "]": "\x00", "}": "\x00"})
# Escapes that can decode to NUL or to a surrogate; without one, no string needs a look.
_RISKY_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class BodyError(DomainError):
    """A webhook body that can never be decoded; a 400 with the reason."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(400, code, detail)


class _NumberOutOfRange(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def decode_body(body: bytes) -> dict[str, Any]:
    """The JSON object in ``body``, under the rules of the module docstring.

    Raises:
        BodyError: the body is empty, not UTF-8, not JSON, too deep, has an
            out-of-range number or a duplicate key, or is not an object.
    """
    if body.startswith(_BOM):
        body = body[len(_BOM) :]
    if not body.strip(_JSON_SPACE):
        raise BodyError("empty_body", "body is empty: send the event as a JSON object")
    if body.startswith(_UTF16_BOMS) or b"\x00" in body:
        # A NUL byte is never valid in JSON text; in practice it means UTF-16 or UTF-32.
        raise BodyError("body_not_utf8", "body is UTF-16 or UTF-32: send it as UTF-8 JSON")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(
            "body_not_utf8", f"body is not valid UTF-8 (byte {exc.start}): send UTF-8 JSON"
        ) from exc
    depth = _depth(text)
    if depth > MAX_DEPTH:
        raise BodyError(
            "json_too_deep", f"body nests {depth} levels deep; at most {MAX_DEPTH} are accepted"
        )
    try:
        data = json.loads(
            text,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_parse_constant,
            object_pairs_hook=_unique_object,
        )
    except json.JSONDecodeError as exc:
        raise BodyError(
            "malformed_json", f"body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except _NumberOutOfRange as exc:
        raise BodyError("number_out_of_range", exc.detail) from exc
    except RecursionError as exc:  # only if MAX_DEPTH were set above the interpreter's limit
        raise BodyError("json_too_deep", "body nests too deeply to parse") from exc
    if not isinstance(data, dict):
        raise BodyError("malformed_json", "body must be a JSON object")
    if _RISKY_ESCAPE.search(text):
        cleaned = _storable(data)
        assert isinstance(cleaned, dict)  # _storable keeps every value's type
        return cleaned
    return data


def _depth(text: str) -> int:
    """The deepest nesting of arrays and objects; linear, and iterated in C, whatever the input."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return 0  # it cannot nest deeper than it has brackets
    brackets = _NOT_BRACKETS.sub("", _STRING.sub("", _ESCAPE.sub("", text)))
    steps = brackets.translate(_STEPS).encode("ascii")
    return max(accumulate(map(operator.sub, steps, repeat(1))), default=0)


def _parse_int(s: str) -> int:
    if len(s.lstrip("-")) > MAX_INT_DIGITS:
        raise _NumberOutOfRange(
            f"body has an integer of {len(s.lstrip('-'))} digits; at most {MAX_INT_DIGITS} "
            "are accepted"
        )
    return int(s)


def _parse_float(s: str) -> float:
    value = float(s)
    if not math.isfinite(value):
        raise _NumberOutOfRange("body has a number too large for a double (it would be infinite)")
    return value


def _parse_constant(name: str) -> float:
    raise _NumberOutOfRange(f"body has {name}, which is not a JSON number")


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise BodyError("duplicate_key", "body has an object with the same key twice")
    return obj


def _storable(value: Any) -> Any:
    """``value`` with NUL and unpaired surrogates in every string replaced by U+FFFD.

    Iterative, not recursive: the depth is bounded, but a stack of our own
    keeps this independent of the interpreter's recursion limit.
    """
    root: list[Any] = [value]
    stack: list[tuple[list[Any] | dict[str, Any], Any]] = [(root, 0)]
    while stack:
        parent, key = stack.pop()
        item = parent[key]
        if isinstance(item, str):
            parent[key] = _UNSTORABLE.sub("\ufffd", item)
        elif isinstance(item, list):
            stack.extend((item, i) for i in range(len(item)))
        elif isinstance(item, dict):
            cleaned = {_UNSTORABLE.sub("\ufffd", k): v for k, v in item.items()}
            if len(cleaned) != len(item):
                raise BodyError("duplicate_key", "body has an object with the same key twice")
            parent[key] = cleaned
            stack.extend((cleaned, k) for k in cleaned)
    return root[0]
