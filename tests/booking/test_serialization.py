"""Events touching a booking uid wait for any other transaction working on that uid."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

from equity_connect.booking.service import handle_calcom
from equity_connect.config import Settings
from equity_connect.db.locks import LockKey
from equity_connect.db.pool import connect
from equity_connect.security.crypto import PiiCipher
from tests.booking.calcom import event

OLD, NEW = "heldOldUid000000000000", "heldNewUid000000000000"


@pytest.mark.parametrize(
    ("held", "delivery"),
    [
        (OLD, event("booking_created", uid=OLD, ec_ref=None)),
        (OLD, event("booking_rescheduled", uid=NEW, rescheduleUid=OLD)),  # the old uid
        (NEW, event("booking_rescheduled", uid=NEW, rescheduleUid=OLD)),  # the new uid
        (NEW, event("booking_cancelled", uid=NEW)),
    ],
)
def test_an_event_waits_while_its_booking_is_locked(
    database_url: str, cipher: PiiCipher, held: str, delivery: dict[str, Any]
) -> None:
    done = threading.Event()
    outcome: list[object] = []

    def process() -> None:
        with connect(database_url) as conn:
            try:
                outcome.append(
                    handle_calcom(
                        conn,
                        cipher,
                        Settings(),
                        delivery["triggerEvent"],
                        delivery,
                        event_id=uuid.uuid4(),
                    )
                )
            except Exception as exc:  # BookingNotYetKnown here: it got past the lock
                outcome.append(type(exc).__name__)
            finally:
                conn.rollback()
                done.set()

    with connect(database_url) as holder:
        holder.execute(
            "select pg_advisory_xact_lock(%s, hashtext(%s))", [int(LockKey.CALCOM_BOOKING), held]
        )
        worker = threading.Thread(target=process)
        worker.start()
        assert not done.wait(0.5), "processed while another transaction held the booking"
        holder.rollback()  # releases the lock
    assert done.wait(10)
    worker.join()
    assert outcome  # it ran to an end once the lock was free
