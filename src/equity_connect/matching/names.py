"""Owner names as vendors write them, read into people we can compare.

Vendor lists put one owner's name in every layout: ``Carmen`` / ``Delgado``,
``DELGADO, CARMEN`` in one column, ``Carmen & Luis`` / ``Delgado`` for joint
owners, ``Carmen M.`` with a middle initial, ``Bob`` for Robert, and county
records' ``DELGADO CARMEN M`` surname first without a comma. A layout we
cannot tell apart (two bare words in one column) yields both readings: the
comparison takes the best agreement, so guessing wrong costs nothing.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# Formal first name of common English and Spanish nicknames (upper case).
# Only unambiguous ones: "PAT" is Patricia or Patrick, so it maps to neither
# and simply fails to agree with either formal name.
NICKNAMES: dict[str, str] = {
    "BOB": "ROBERT", "BOBBY": "ROBERT", "ROB": "ROBERT", "ROBBIE": "ROBERT", "BERT": "ROBERT",
    "BILL": "WILLIAM", "BILLY": "WILLIAM", "WILL": "WILLIAM", "WILLY": "WILLIAM",
    "LIZ": "ELIZABETH", "LIZZY": "ELIZABETH", "BETH": "ELIZABETH", "BETTY": "ELIZABETH",
    "BETSY": "ELIZABETH", "ELIZA": "ELIZABETH",
    "PEGGY": "MARGARET", "MAGGIE": "MARGARET", "MEG": "MARGARET", "MARGE": "MARGARET",
    "RICK": "RICHARD", "RICKY": "RICHARD", "DICK": "RICHARD", "RICH": "RICHARD",
    "KATHY": "KATHERINE", "KATE": "KATHERINE", "KATIE": "KATHERINE", "KAT": "KATHERINE",
    "TOM": "THOMAS", "TOMMY": "THOMAS", "JOE": "JOSEPH", "JOEY": "JOSEPH",
    "TONY": "ANTHONY", "RAY": "RAYMOND", "JERRY": "GERALD", "TERRY": "THERESA",
    "JOSIE": "JOSEPHINE", "PACO": "FRANCISCO", "PANCHO": "FRANCISCO", "LUPE": "GUADALUPE",
    "JIM": "JAMES", "JIMMY": "JAMES", "JAMIE": "JAMES", "MIKE": "MICHAEL", "MIKEY": "MICHAEL",
    "DAVE": "DAVID", "DAVEY": "DAVID", "CHUCK": "CHARLES", "CHARLIE": "CHARLES",
    "DAN": "DANIEL", "DANNY": "DANIEL", "STEVE": "STEVEN", "ED": "EDWARD", "EDDIE": "EDWARD",
    "TED": "EDWARD", "FRANK": "FRANCIS", "HANK": "HENRY", "HARRY": "HENRY", "JACK": "JOHN",
    "JOHNNY": "JOHN", "LARRY": "LAWRENCE", "LEN": "LEONARD", "NICK": "NICHOLAS",
    "SAM": "SAMUEL", "SUE": "SUSAN", "SUSIE": "SUSAN", "DEBBIE": "DEBORAH", "DEB": "DEBORAH",
    "BARB": "BARBARA", "CINDY": "CYNTHIA", "JENNY": "JENNIFER", "JEN": "JENNIFER",
    "CHRIS": "CHRISTOPHER", "GREG": "GREGORY", "JEFF": "JEFFREY", "KEN": "KENNETH",
    "RON": "RONALD", "DON": "DONALD", "DOUG": "DOUGLAS", "WALLY": "WALTER", "AL": "ALBERT",
    "PEPE": "JOSE", "CHUY": "JESUS", "NACHO": "IGNACIO", "LOLA": "DOLORES", "LOLITA": "DOLORES",
    "CONCHA": "CONCEPCION", "CHELO": "CONSUELO", "MEMO": "GUILLERMO", "BETO": "ALBERTO",
}  # fmt: skip

# Words that are not part of a person's name: generational suffixes, titles,
# and the "et al" / trustee markers of county records.
_NOISE = frozenset(
    [
        "JR",
        "SR",
        "II",
        "III",
        "IV",
        "V",
        "MR",
        "MRS",
        "MS",
        "DR",
        "ETAL",
        "ET",
        "AL",
        "TR",
        "TTEE",
        "TRUSTEE",
        "TRUSTEES",
        "EST",
        "ESTATE",
        "OF",
        "THE",
        "H/W",
        "HW",
        "JT",
        "JTWROS",
    ]
)
# Markers of an owner that is not a person (a trust, a company): compared as
# a whole string, never split into given names.
_ENTITY = frozenset(
    [
        "LLC",
        "INC",
        "CORP",
        "CORPORATION",
        "CO",
        "COMPANY",
        "LP",
        "LLP",
        "LTD",
        "TRUST",
        "FAMILY",
        "HOLDINGS",
        "PROPERTIES",
        "INVESTMENTS",
        "PARTNERS",
        "BANK",
        "ASSOCIATION",
        "REVOCABLE",
        "LIVING",
    ]
)
# The same words, for the database's pre-filter of candidate pairs
# (ingest/queries.sql create_pair_sides), which must read names as we do.
NOISE_WORDS = _NOISE
ENTITY_WORDS = _ENTITY
_JOINERS = re.compile(r"\s*(?:&|\+|/|\bAND\b)\s*")
_NON_LETTERS = re.compile(r"[^A-Z'&,/+ -]+")


@dataclass(frozen=True)
class Person:
    """One owner: surname, canonical first name, middle initial (upper case, no accents)."""

    last: str
    first: str | None = None
    initial: str | None = None


@dataclass(frozen=True)
class Owners:
    """Every reading of a row's owner fields: people, or a non-person owner's name."""

    people: tuple[Person, ...] = ()
    entity: str | None = None

    @property
    def empty(self) -> bool:
        return not self.people and self.entity is None

    @property
    def surnames(self) -> frozenset[str]:
        return frozenset(p.last for p in self.people)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_NON_LETTERS.sub(" ", ascii_only.upper().replace(".", " ")).split())


def canonical_first(name: str) -> str:
    """The formal first name of a nickname (``BOB`` -> ``ROBERT``), else the name."""
    return NICKNAMES.get(name, name)


def _given(tokens: list[str]) -> tuple[str | None, str | None]:
    """First name and middle initial from given-name tokens (``CARMEN M`` -> CARMEN, M)."""
    words = [t for t in tokens if t not in _NOISE]
    if not words:
        return None, None
    first = words[0]
    if len(first) == 1:  # "J. ROBERT SMITH": an initial first, the name after it
        rest = [w for w in words[1:] if len(w) > 1]
        return (canonical_first(rest[0]), first) if rest else (None, first)
    initial = next((w[0] for w in words[1:]), None)
    return canonical_first(first), initial


def _surname(tokens: list[str]) -> str | None:
    words = [t for t in tokens if t not in _NOISE]
    return " ".join(words) if words else None


def _people_from_full(text: str) -> list[Person]:
    """People in one column holding whole names, in whichever order."""
    if "," in text:  # "DELGADO, CARMEN & LUIS": surname, then given names
        last_part, given_part = text.split(",", 1)
        last = _surname(last_part.split())
        if last is None:
            return []
        out = []
        for given in _JOINERS.split(given_part):
            first, initial = _given(given.split())
            out.append(Person(last, first, initial))
        return out
    out = []
    for part in _JOINERS.split(text):
        words = [w for w in part.split() if w not in _NOISE]
        if not words:
            continue
        if len(words) == 1:
            # "CARMEN & LUIS DELGADO": a lone given name takes the surname
            # that ends the whole text.
            tail = text.rsplit(maxsplit=1)[-1]
            out.append(Person(tail, canonical_first(words[0])))
            continue
        # No comma: "CARMEN M DELGADO" or county style "DELGADO CARMEN M".
        if len(words[-1]) > 1:
            first, initial = _given(words[:-1])
            out.append(Person(words[-1], first, initial))
        if len(words[0]) > 1:
            first_b, initial_b = _given(words[1:])
            out.append(Person(words[0], first_b, initial_b))
    return out


@lru_cache(maxsize=65536)
def parse_owners(first_field: str | None, last_field: str | None) -> Owners:
    """Every reading of a row's owner name columns (either may hold the whole name)."""
    first = _fold(first_field or "")
    last = _fold(last_field or "")
    whole = f"{first} {last}".strip()
    if not whole:
        return Owners()
    if _ENTITY.intersection(whole.split()):
        return Owners(entity=whole)
    if first and last and "," not in last:
        surnames = [s for s in _JOINERS.split(last) if s]
        people = []
        for given in _JOINERS.split(first):
            tokens = [t for t in given.split() if t not in _NOISE]
            if len(tokens) >= 2 and len(tokens[-1]) > 1 and len(surnames) == 1:
                # "CARMEN DELGADO & LUIS PEREZ" in the first column: a whole name
                people.extend(_people_from_full(given))
                continue
            given_name, initial = _given(tokens)
            for surname in surnames:
                name = _surname(surname.split())
                if name is not None:
                    people.append(Person(name, given_name, initial))
        return Owners(people=tuple(dict.fromkeys(people)))
    return Owners(people=tuple(dict.fromkeys(_people_from_full(whole))))
