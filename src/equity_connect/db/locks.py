"""Advisory-lock keys, in one place so no two jobs share one by accident.

Keys are transaction-scoped (``pg_advisory_xact_lock``): a session lock taken
through a transaction-mode pooler (Supavisor, PgBouncer) can be orphaned on
another backend.
"""

from __future__ import annotations

from enum import IntEnum


class LockKey(IntEnum):
    """Every advisory-lock key the application takes."""

    MIGRATE = 7_301_001
    REFRESH_CONTACTABLE = 7_301_101
    FEED_DAILY = 7_301_102
    # First key of pg_advisory_xact_lock(int, int); the second is hashtext(uid)
    # of a Cal.com booking, so one booking's events are processed one at a time.
    CALCOM_BOOKING = 7_301_201
