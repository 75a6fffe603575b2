"""Ingest types. The StrEnums mirror the Postgres enums of the same names."""

from __future__ import annotations

from enum import StrEnum


class UploadStatus(StrEnum):
    """Mirrors ``upload_status``."""

    RECEIVED = "received"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class UploadRowStatus(StrEnum):
    """Mirrors ``upload_row_status``: what became of one data row."""

    INSERTED = "inserted"
    MERGED = "merged"
    REJECTED = "rejected"


class MatchKey(StrEnum):
    """Mirrors ``match_key``: which identity key matched an existing lead."""

    MAK = "mak"
    APN = "apn"
    ADDR_HASH = "addr_hash"
    PROBABILISTIC = "probabilistic"


class SignatureScheme(StrEnum):
    """Mirrors ``signature_scheme``: how an upload proved where it came from."""

    STANDARD_WEBHOOKS = "standard_webhooks"
    PLAN_HMAC = "plan_hmac"
    LOCAL = "local"
