"""A local HTTP fake of Melissa's ContactVerify batch endpoint that counts paid lookups.

It answers in the documented shape (``tests/fixtures/providers/melissa/``): one record per
request record, echoing ``RecordID``, each lead with its own Melissa Address Key, so that
applying an answer fills in a lead's missing MAK, which is what used to move the lookup's
idempotency key.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.outbound.fakeserver import Recorded, Reply

FIXTURE = Path(__file__).parents[1] / "fixtures/providers/melissa/contactverify_batch_response.json"


def documented_body() -> dict[str, Any]:
    """The fixture's response body."""
    body: dict[str, Any] = json.loads(FIXTURE.read_text())
    return body


class FakeMelissa:
    """Responder for :class:`~tests.outbound.fakeserver.FakeServer`: counts lookups per lead.

    ``before_reply`` (if set) runs once, on the first call, after the request was counted
    and before the answer is sent: tests use it to set a trap for the worker.
    """

    def __init__(self) -> None:
        self.lookups: Counter[str] = Counter()
        self.calls = 0
        self.before_reply: Callable[[list[str]], None] | None = None
        self._lock = threading.Lock()
        self._template = documented_body()

    def __call__(self, request: Recorded) -> Reply:
        records = request.json()["Records"]
        ids = [str(r["RecordID"]) for r in records]
        with self._lock:
            self.calls += 1
            self.lookups.update(ids)
            hook, self.before_reply = self.before_reply, None
        if hook is not None:
            hook(ids)
        body = copy.deepcopy(self._template)
        template = body["Records"][0]
        body["Records"] = [self._record(template, record_id) for record_id in ids]
        body["TotalRecords"] = str(len(ids))
        return Reply(body=body)

    @staticmethod
    def _record(template: dict[str, Any], record_id: str) -> dict[str, Any]:
        digest = int(hashlib.sha256(record_id.encode()).hexdigest()[:8], 16)
        record = dict(template)
        record["RecordID"] = record_id
        record["MelissaAddressKey"] = str(8_000_000_000 + digest % 1_000_000_000)
        record["EmailAddress"] = f"owner-{digest % 1_000_000}@example.com"
        record["PhoneNumber"] = f"(949) 555-01{digest % 100:02d}"
        return record
