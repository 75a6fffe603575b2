"""An offline, deterministic stand-in for a skip-trace provider (demo, tests, load runs).

Every value comes from a SHA-256 of the seed, the lead id and the address, so the same
request gives the same result in any batch, process or Python version (``random.Random``
seeded with an int is stable across versions). Results use Melissa's codes, since that is
the code map the verification step knows; phone extras (DNC, reachability, score, carrier)
imitate BatchData. Rough rates: 85% matched, 10% of phones DNC, ~8% of phones and ~4% of
emails invalid (dropped, code kept), ~6% of emails with a bad mailbox (kept, code EE04), and
a MAK filled in for most matched leads that had none.

Contacts are fictional by construction: numbers are ``NXX-555-01XX`` (the NANP range set
aside for fiction) and emails are under the IANA example domains.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import Any, Final

from equity_connect.normalize.email import normalize_email
from equity_connect.normalize.phone import to_e164
from equity_connect.skiptrace.schemas import (
    EmailResult,
    PhoneResult,
    PhoneType,
    SkipTraceRequest,
    SkipTraceResult,
    split_batches,
)

__all__ = ["PROVIDER", "SimulatedSkipTrace"]

PROVIDER: Final = "simulator"  # the name EC_SKIPTRACE_PROVIDERS uses

_AREA_CODES: Final = ("212", "305", "310", "415", "503", "512", "602", "617", "702", "713")
_CARRIERS: Final = ("T-Mobile", "Verizon Wireless", "AT&T Mobility", "Lumen", "Frontier")
_EMAIL_DOMAINS: Final = ("example.com", "example.net", "example.org")


def _ascii_letters(text: str | None) -> str:
    return "".join(ch for ch in (text or "").lower() if ch.isascii() and ch.isalpha())


class SimulatedSkipTrace:
    """A :class:`~equity_connect.skiptrace.schemas.SkipTraceProvider` that calls no one.

    Args:
        seed: changes every result at once (two seeds = two independent "providers").
        match_rate: share of leads matched.
        dnc_rate: share of returned phones flagged Do Not Call.
        max_batch: batch size reported to the router (nothing is sent anywhere).
    """

    def __init__(
        self,
        *,
        seed: str = "equity-connect",
        match_rate: float = 0.85,
        dnc_rate: float = 0.10,
        max_batch: int = 100,
    ) -> None:
        if not (0.0 <= match_rate <= 1.0 and 0.0 <= dnc_rate <= 1.0):
            raise ValueError("rates must be within [0, 1]")
        self.name: str = PROVIDER
        self.max_batch: int = max_batch
        self._seed = seed
        self._match_rate = match_rate
        self._dnc_rate = dnc_rate

    def lookup(self, requests: Sequence[SkipTraceRequest]) -> list[SkipTraceResult]:
        """One simulated result per request, in order."""
        return [
            self.simulate(request)
            for batch in split_batches(requests, self.max_batch)
            for request in batch
        ]

    def _rng(self, request: SkipTraceRequest) -> random.Random:
        key = "\x1f".join(
            part.strip().casefold()
            for part in (
                self._seed,
                request.lead_id,
                request.street,
                request.city,
                request.state,
                request.zip5,
            )
        )
        digest = hashlib.sha256(key.encode()).digest()
        # Simulation, not security: a seeded PRNG is the point.
        return random.Random(int.from_bytes(digest, "big"))  # noqa: S311

    def simulate(self, request: SkipTraceRequest) -> SkipTraceResult:
        """The result for one request; a pure function of the seed and the request's keys."""
        rng = self._rng(request)
        if rng.random() >= self._match_rate:
            codes = [rng.choice(("AE01", "AE02"))]
            return SkipTraceResult(
                provider=PROVIDER,
                lead_id=request.lead_id,
                matched=False,
                mak=None,  # as Melissa: no verified address, no key
                result_codes=codes,
                raw={"RecordID": request.lead_id, "Results": ",".join(codes), "Simulated": True},
            )

        address_code = rng.choices(("AS01", "AS02", "AS03"), weights=(90, 7, 3))[0]
        mak = request.mak
        if mak is None and rng.random() < 0.8:
            mak = str(rng.randrange(10**9, 10**10))
        codes = [address_code]
        raw_phones: list[dict[str, Any]] = []
        phones = self._phones(rng, codes, raw_phones)
        raw_emails: list[dict[str, Any]] = []
        emails = self._emails(rng, request, codes, raw_emails)
        return SkipTraceResult(
            provider=PROVIDER,
            lead_id=request.lead_id,
            matched=True,
            mak=mak,
            phones=phones,
            emails=emails,
            result_codes=codes,
            raw={
                "RecordID": request.lead_id,
                "Results": ",".join(codes),
                "MelissaAddressKey": mak or "",
                "phoneNumbers": raw_phones,
                "emails": raw_emails,
                "Simulated": True,
            },
        )

    def _phones(
        self, rng: random.Random, codes: list[str], raw: list[dict[str, Any]]
    ) -> list[PhoneResult]:
        phones: dict[str, PhoneResult] = {}
        for _ in range(rng.choice((0, 1, 1, 2, 2, 3))):
            if rng.random() < 0.08:
                bad_code = rng.choice(("PE01", "PE03"))
                codes.append(bad_code)
                raw.append({"number": f"555-01{rng.randrange(10)}", "codes": [bad_code]})
                continue
            digits = f"{rng.choice(_AREA_CODES)}55501{rng.randrange(100):02d}"
            number = to_e164(digits)
            assert number is not None  # NXX-555-01XX is always a syntactically valid number
            mobile = rng.random() < 0.65
            phone_codes = ["PS01", "PS07" if mobile else "PS08"]
            phone = PhoneResult(
                number=number,
                type=PhoneType.MOBILE if mobile else PhoneType.LANDLINE,
                carrier=rng.choice(_CARRIERS),
                dnc=rng.random() < self._dnc_rate,
                reachable=rng.random() < 0.9,
                score=rng.randint(40, 100),
                tested=True,
                tcpa=False,
                codes=phone_codes,
            )
            if number in phones:
                continue
            phones[number] = phone
            codes.extend(phone_codes)
            raw.append({"number": digits, "type": phone.type.value, "dnc": phone.dnc})
        return list(phones.values())

    def _emails(
        self,
        rng: random.Random,
        request: SkipTraceRequest,
        codes: list[str],
        raw: list[dict[str, Any]],
    ) -> list[EmailResult]:
        if rng.random() >= 0.75:
            return []
        names = (_ascii_letters(request.first_name), _ascii_letters(request.last_name))
        local = ".".join(name for name in names if name)
        local = f"{local or 'owner'}{rng.randrange(100)}"
        domain = rng.choice(_EMAIL_DOMAINS)
        roll = rng.random()
        if roll < 0.04:
            # A syntax error: dropped like any invalid address, its code kept.
            codes.append("EE01")
            raw.append({"email": f"{local}@@{domain}", "codes": ["EE01"]})
            return []
        email_codes = ["EE04"] if roll < 0.10 else ["ES01"]
        address = normalize_email(f"{local}@{domain}")
        assert address is not None  # ASCII letters and digits under an example domain
        codes.extend(email_codes)
        raw.append({"email": address, "codes": email_codes})
        return [EmailResult(address=address, codes=email_codes)]
