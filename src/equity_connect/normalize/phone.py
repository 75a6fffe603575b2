"""Phone numbers to E.164 (``+15555550123``).

Validity rule for NANP (+1) numbers: ``phonenumbers.is_possible_number`` (right length)
plus a NANP syntax check, *not* ``is_valid_number``. ``is_valid_number`` also demands an
assigned area code and exchange from libphonenumber's metadata, which rejects real-looking
vendor data such as ``(555) 555-0123`` and goes stale as area codes are added. The syntax
check is the NANP numbering plan itself: area code and exchange are ``[2-9]XX`` and not
``X11`` (N11 codes such as 411/911 are service codes, never part of a number). Numbers
outside NANP have no such simple plan, so for them ``is_valid_number`` decides.

Speed: the common vendor formats, 10 digits or 11 with a leading 1 separated by
spaces/parentheses/dashes/dots, optionally ``+1``, are handled in pure Python; the result
is the same as the phonenumbers route (property-tested). Anything else (letters, extensions,
other country codes) goes through ``phonenumbers``. Extensions are dropped: E.164 has none.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

import phonenumbers

__all__ = ["is_nanp_national_number", "to_e164", "validate_phone"]

# Separators vendors put between digit groups; deleting them leaves only digits for the
# common formats. "+" is not here: it is only meaningful in front, checked separately.
_SEPARATORS: Final = str.maketrans("", "", " ()-./\t")
_NANP_COUNTRY_CODE: Final = 1


def is_nanp_national_number(digits: str) -> bool:
    """Ten ASCII digits forming a syntactically valid NANP number (``NPA NXX XXXX``)."""
    return (
        len(digits) == 10
        and digits.isdigit()
        and digits.isascii()
        and digits[0] not in "01"
        and digits[1:3] != "11"
        and digits[3] not in "01"
        and digits[4:6] != "11"
    )


@lru_cache(maxsize=64)
def _region_is_nanp(region: str) -> bool:
    return phonenumbers.country_code_for_region(region) == _NANP_COUNTRY_CODE


def _fast_nanp(raw: str, default_region: str) -> str | None:
    """E.164 for the common NANP formats, or None when the fast path does not apply."""
    plus = raw.startswith("+")
    digits = (raw[1:] if plus else raw).translate(_SEPARATORS)
    if not digits.isdigit() or not digits.isascii():
        return None
    if plus:
        return "+" + digits if len(digits) == 11 and digits[0] == "1" else None
    # Without "+" the number is national to the default region: only NANP regions read
    # "1 555 555 0123" or "555 555 0123" as +1.
    if not _region_is_nanp(default_region):
        return None
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    return "+1" + digits if len(digits) == 10 else None


def _slow(raw: str, default_region: str) -> tuple[str | None, str | None]:
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as exc:
        return None, f"unparseable: {exc}"
    if number.country_code == _NANP_COUNTRY_CODE:
        if not phonenumbers.is_possible_number(number):
            return None, "wrong length for a NANP number"
        if not is_nanp_national_number(str(number.national_number)):
            return None, "not a valid NANP area code/exchange"
    elif not phonenumbers.is_valid_number(number):
        return None, "invalid number"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None


def validate_phone(raw: str | None, default_region: str = "US") -> tuple[str | None, str | None]:
    """``(e164, None)`` for a valid number, else ``(None, reason)``."""
    if raw is None:
        return None, "empty"
    s = raw.strip()
    if not s:
        return None, "empty"
    fast = _fast_nanp(s, default_region)
    if fast is not None:
        if is_nanp_national_number(fast[2:]):
            return fast, None
        return None, "not a valid NANP area code/exchange"
    return _slow(s, default_region)


def to_e164(raw: str | None, default_region: str = "US") -> str | None:
    """E.164 form of a phone number (``(555) 555-0123`` -> ``+15555550123``), or None."""
    return validate_phone(raw, default_region)[0]
