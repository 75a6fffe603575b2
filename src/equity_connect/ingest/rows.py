"""One CSV record → one staging row: normalized keys, encrypted PII, or a reject.

Runs once per data row of million-row files, so it is kept flat: no
objects beyond the line of COPY text it returns.
"""

from __future__ import annotations

import json
import re
import uuid

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


# COPY text format: these four characters are escaped in a value; NULL is \N.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NULL = "\\N"


def _texts(values: tuple[str | None, ...]) -> list[str]:
    """COPY text for many values: one look for special characters across all of them."""
    probe = "".join([v for v in values if v is not None])
    if "\\" in probe or "\t" in probe or "\n" in probe or "\r" in probe:
        return [_NULL if v is None else v.translate(_COPY_ESCAPES) for v in values]
    return [_NULL if v is None else v for v in values]


def _int(value: int | None) -> str:
    return _NULL if value is None else str(value)


def _bytea(value: bytes | None) -> str:
    # bytea's hex input form, its backslash escaped for COPY
    return _NULL if value is None else "\\\\x" + value.hex()


def _extras(extra: dict[str, str]) -> tuple[str | None, list[str]]:
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
    return (json.dumps(kept, ensure_ascii=False) if kept else None), dropped


def stage_record(record: CsvRecord, lead_id: str, cipher: PiiCipher) -> str | CsvReject:
    """Normalize and encrypt one record, or say why it cannot become a lead.

    The staged row is returned as a line of COPY text for the columns of
    ``copy_stage`` after ``row_number, line_number, upload_id`` (the caller
    adds those): formatting it here, where every value's type is known, is
    several times cheaper than a generic per-value adapter, and it lets
    worker processes hand back finished text. ``lead_id`` is the id the
    row's lead gets if the row creates one; PII is bound to it.
    """
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
    hint = lead_id

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

    if address is not None:
        street, unit = address.delivery_line, address.unit
        city = address.city or record.property_city
        state = address.state or record.property_state
        zip5: str | None = address.zip5
        hashed: bytes | None = addr_hash(address)
    else:
        street, unit, city = record.property_address, None, record.property_city
        state, zip5, hashed = record.property_state, record.property_zip, None
    texts = (
        record.mak,
        county,
        record.apn,
        apn_key,
        record.owner_first_name,
        record.owner_last_name,
        street,
        unit,
        city,
        state,
        zip5,
        record.source,
        raw,
        "; ".join(notes) if notes else None,
    )
    mak, fips, apn, apn_n, first, last, street, unit, city, state, zip5, source, raw, note = _texts(
        texts
    )
    return "\t".join(
        (
            hint,
            mak,
            fips,
            apn,
            apn_n,
            _bytea(hashed),
            first,
            last,
            _int(record.owner_age),
            street,
            unit,
            city,
            state,
            zip5,
            _int(record.estimated_value),
            _int(record.estimated_equity),
            _int(record.year_built),
            source,
            _bytea(email_ct),
            _bytea(email_idx),
            _bytea(phone_ct),
            _bytea(phone_idx),
            raw,
            note,
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
