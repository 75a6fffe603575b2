"""Background-job types."""

from __future__ import annotations

from enum import StrEnum


class DlqStatus(StrEnum):
    """Mirrors ``dlq_status``: a dead letter's state."""

    PENDING = "pending"
    REPLAYED = "replayed"
    DISCARDED = "discarded"


class JobStatus(StrEnum):
    """Mirrors ``job_status``."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    DEAD = "dead"
