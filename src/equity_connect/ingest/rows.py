"""One CSV record → one staging row: normalized keys, encrypted PII, or a reject.

Runs once per data row of million-row files, so it is kept flat: no
objects beyond the line of COPY text it returns.
"""

from __future__ import annotations

import json
import uuid

from equity_connect.ingest.csv_reader import CsvRecord, CsvReject
from equity_connect.ingest.rejects import raw_aad
from equity_connect.normalize import addr_hash, normalize_apn, parse_address
from equity_connect.normalize.address import place_without_zip
from equity_connect.normalize.email import validate_email
from equity_connect.normalize.phone import validate_phone
from equity_connect.security.crypto import PiiCipher, aad_for
from equity_connect.verification.schemas import ContactChannel

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


def extras_aad(lead_id: uuid.UUID | str) -> bytes:
    """Associated data of a lead's unknown columns, ``leads.raw_extra_ciphertext``
    (read back by :func:`equity_connect.security.pii.lead_extras`)."""
    return aad_for("leads", "raw_extra", lead_id)


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
    if address is None and address_reason == "missing_zip":
        address = place_without_zip(
            record.property_address, record.property_city, record.property_state
        )
        if address is not None:
            notes.append("no ZIP: the property is placed by street, city and state")
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

    # Unknown columns are vendor free text ("call 4158675309 after 5"): no
    # filter can tell which hold PII, so all of them are kept, encrypted.
    extra_ct = (
        cipher.encrypt(json.dumps(record.extra, ensure_ascii=False), extras_aad(hint))
        if record.extra
        else None
    )
    if address is None:
        notes.append(f"address not normalized: {address_reason or 'unparseable'}")

    if address is not None:
        street, unit = address.delivery_line, address.unit
        city = address.city or record.property_city
        state = address.state or record.property_state
        zip5: str | None = address.zip5 or None
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
        "; ".join(notes) if notes else None,
    )
    mak, fips, apn, apn_n, first, last, street, unit, city, state, zip5, source, note = _texts(
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
            _bytea(extra_ct),
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
