"""Assessor's Parcel Numbers (APN).

Counties and vendors format the same parcel differently (``1234-567-001``, ``1234 567 001``,
``1234567001``, ``1234.567.001``), so the comparable form keeps letters and digits only,
uppercased. APNs are unique per county, not nationally: dedupe keys on
``(county_fips, normalize_apn(apn))``.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["normalize_apn"]

# ASCII only: APNs are ASCII, and a stray non-ASCII letter is noise, not part of the key.
_NOT_ALNUM: Final = re.compile(r"[^0-9A-Z]+")


def normalize_apn(raw: str | None) -> str | None:
    """Uppercased APN with all punctuation and spaces removed; None if nothing is left."""
    if raw is None:
        return None
    apn = _NOT_ALNUM.sub("", raw.upper())
    return apn or None
