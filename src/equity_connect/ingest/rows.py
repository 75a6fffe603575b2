"""One CSV record → one staging row: normalized keys, encrypted PII, or a reject.

Runs once per data row of million-row files, so it is kept flat: no
objects beyond the tuple handed to COPY.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb

from equity_connect.db.ids import uuid7
from equity_connect.ingest.csv_reader import CsvRecord, CsvReject
from equity_connect.ingest.rejects import raw_aad
from equity_connect.normalize import addr_hash, normalize_apn, parse_address
from equity_connect.normalize.email import validate_email
from equity_connect.normalize.phone import validate_phone
from equity_connect.security.crypto import PiiCipher, aad_for
from equity_connect.verification.schemas import ContactChannel

# Unknown columns are kept in leads.raw, in clear. A column whose name says
# it holds contact or identity data is not: it would put PII at rest
# unencrypted. Its name (never its value) is noted on the row instead.
_PII_COLUMN = re.compile(
    r"phone|mobile|cell|tel|fax|wireless|landline|contact|email|e_mail|ssn|social|birth|dob|"
    r"passport|license"
)
# And whatever its name, a value shaped like an email or a phone number.
_PHONE_SHAPE = re.compile(r"[\d\s().+-]{10,24}")

_EMAIL = str(ContactChannel.EMAIL)
_PHONE = str(ContactChannel.PHONE)


@dataclass(frozen=True, slots=True)
class StagedRow:
    """A row ready for COPY (``values`` in ``copy_stage`` column order)."""

    values: tuple[Any, ...]


def _extras(extra: dict[str, str]) -> tuple[Jsonb | None, list[str]]:
    kept: dict[str, str] = {}
    dropped: list[str] = []
    for name, value in extra.items():
        looks_pii = "@" in value or (
            _PHONE_SHAPE.fullmatch(value.strip()) is not None
            and sum(c.isdigit() for c in value) >= 10
        )
        if looks_pii or _PII_COLUMN.search(name):
            dropped.append(name)
        else:
            kept[name] = value
    return (Jsonb(kept) if kept else None), dropped


def stage_record(
    record: CsvRecord, upload_id: uuid.UUID, cipher: PiiCipher
) -> StagedRow | CsvReject:
    """Normalize and encrypt one record, or say why it cannot become a lead."""
    notes: list[str] = []
    address, address_reason = parse_address(
        record.property_address, record.property_city, record.property_state, record.property_zip
    )
    apn_normalized = normalize_apn(record.apn)
    county = record.county_fips
    # An APN identifies a parcel only within its county.
    apn_key = apn_normalized if county is not None else None
    if address is None and record.mak is None and apn_key is None:
        return CsvReject(
            record.row_number,
            record.line_number,
            "property_address",
            f"no identity key: address not usable ({address_reason or 'unparseable'}) "
            "and no MAK or county + APN",
        )
    hint = uuid7()

    email_ct = email_idx = phone_ct = phone_idx = None
    if record.email is not None:
        email, reason = validate_email(record.email)
        if email is None:
            notes.append(f"email dropped: {reason}")
        else:
            email_ct = cipher.encrypt(email, aad_for("leads", _EMAIL, hint))
            email_idx = cipher.blind_index(_EMAIL, email)
    if record.phone is not None:
        phone, reason = validate_phone(record.phone)
        if phone is None:
            notes.append(f"phone dropped: {reason}")
        else:
            phone_ct = cipher.encrypt(phone, aad_for("leads", _PHONE, hint))
            phone_idx = cipher.blind_index(_PHONE, phone)

    raw, dropped = _extras(record.extra) if record.extra else (None, [])
    if dropped:
        notes.append("columns not kept (may hold PII): " + ", ".join(sorted(dropped)))
    if address is None:
        notes.append(f"address not normalized: {address_reason or 'unparseable'}")

    return StagedRow(
        (
            upload_id,
            record.row_number,
            record.line_number,
            hint,
            record.mak,
            county,
            record.apn,
            apn_key,
            addr_hash(address) if address is not None else None,
            record.owner_first_name,
            record.owner_last_name,
            record.owner_age,
            address.delivery_line if address is not None else record.property_address,
            address.unit if address is not None else None,
            address.city if address is not None and address.city else record.property_city,
            address.state if address is not None and address.state else record.property_state,
            address.zip5 if address is not None else record.property_zip,
            record.estimated_value,
            record.estimated_equity,
            record.year_built,
            record.source,
            email_ct,
            email_idx,
            phone_ct,
            phone_idx,
            raw,
            "; ".join(notes) if notes else None,
        )
    )


def encrypt_reject_raw(reject: CsvReject, upload_id: uuid.UUID, cipher: PiiCipher) -> bytes | None:
    """The rejected row's cells, encrypted for ``upload_rows.raw_ciphertext``.

    Kept so an operator can see and replay the row; encrypted because a
    rejected row may still hold an email or phone number.
    """
    if reject.raw is None:
        return None
    return cipher.encrypt(
        json.dumps(reject.raw, ensure_ascii=False), raw_aad(upload_id, reject.row_number)
    )
