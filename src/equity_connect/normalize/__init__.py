"""Field normalizers for vendor rows: addresses (USPS Pub 28), phones, emails, APNs."""

from equity_connect.normalize.address import (
    NormalizedAddress,
    addr_hash,
    normalize_address,
    normalize_addresses,
    parse_address,
)
from equity_connect.normalize.apn import normalize_apn
from equity_connect.normalize.email import normalize_email, validate_email
from equity_connect.normalize.phone import to_e164, validate_phone

__all__ = [
    "NormalizedAddress",
    "addr_hash",
    "normalize_address",
    "normalize_addresses",
    "normalize_apn",
    "normalize_email",
    "parse_address",
    "to_e164",
    "validate_email",
    "validate_phone",
]
