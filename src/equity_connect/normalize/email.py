"""Email addresses: syntax-checked and lowercased, for storage and the blind index.

The whole address is lowercased, local part included. RFC 5321 lets a server treat the local
part case-sensitively, but no mainstream provider does, and the value feeds an equality-based
blind index and dedupe: ``John.Smith@X.com`` and ``john.smith@x.com`` must be one person, and a
vendor's all-caps export (which gen_leads imitates) must not create a second one.

Validation is syntax only (``email-validator`` with ``check_deliverability=False``: no DNS, so
ingest stays offline and deterministic). A strict regex accepts the plain ASCII addresses that
make up nearly all vendor data without calling email-validator; it accepts only addresses that
email-validator accepts unchanged (property-tested), and everything else (IDN domains, Unicode
local parts, quoting, odd TLDs, special-use domains) goes to email-validator for the verdict.
"""

from __future__ import annotations

import re
from typing import Final

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError
from email_validator import validate_email as _email_validator

__all__ = ["normalize_email", "validate_email"]

_EMAIL_MAX_LENGTH: Final = 254
_DOMAIN_MAX_LENGTH: Final = 253

# Dot-atom local part over a subset of RFC 5322 atext; hostname labels of 1-63 chars that
# neither start nor end with "-"; an alphabetic TLD. Anything outside this goes to
# email-validator, never to rejection, so the regex only has to be safe, not complete.
_FAST_EMAIL: Final = re.compile(
    r"[a-z0-9_'+-]+(?:\.[a-z0-9_'+-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}",
    re.ASCII,
)
_SPECIAL_USE_TLDS: Final = frozenset(SPECIAL_USE_DOMAIN_NAMES)


def _fast_accept(address: str) -> bool:
    if len(address) > _EMAIL_MAX_LENGTH or _FAST_EMAIL.fullmatch(address) is None:
        return False
    domain = address[address.index("@") + 1 :]
    # "--" covers Punycode ("xn--", which email-validator decodes to Unicode) and the
    # reserved "ab--" labels it rejects.
    return (
        len(domain) <= _DOMAIN_MAX_LENGTH
        and "--" not in domain
        and domain.rsplit(".", 1)[1] not in _SPECIAL_USE_TLDS
    )


def validate_email(raw: str | None) -> tuple[str | None, str | None]:
    """``(normalized, None)`` for a syntactically valid address, else ``(None, reason)``."""
    if raw is None:
        return None, "empty"
    address = raw.strip().lower()
    if not address:
        return None, "empty"
    if _fast_accept(address):
        return address, None
    try:
        result = _email_validator(
            address,
            check_deliverability=False,
            allow_smtputf8=True,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_display_name=False,
            globally_deliverable=True,
            test_environment=False,
        )
    except EmailNotValidError as exc:
        return None, str(exc)
    # email-validator NFC-normalizes and decodes Punycode domains; lowercase again after that.
    return result.normalized.lower(), None


def normalize_email(raw: str | None) -> str | None:
    """Trimmed, lowercased, syntax-valid address, or None."""
    return validate_email(raw)[0]
