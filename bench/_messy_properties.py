"""Messy re-appearances and traps for measuring property matching (issue 19).

Written independently of the ingest bench's generator: that one varies only
formatting on clean keys. Here a property re-appears the way vendor lists
really repeat one: without MAK and APN, with the owner or street misspelled,
the house number's digits transposed, the ZIP missing, the owner written
surname first, jointly, with a middle initial or a nickname. And there are
traps, different properties that look alike and must stay apart:

- neighbours at +-2 on the same street with different owners;
- two units of one building, written without their unit, different owners;
- one investor owning several houses on one street;
- a parent and a child with the same surname on the same street;
- the same street and number in another city;
- the same APN in another county.

``generate(entities, seed)`` returns the rows (vendor column names, as the
ingest reads them) and, per row, its true property id. Truth: two rows are
the same property exactly when they share that id. Deterministic per seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

COLUMNS = (
    "mak",
    "apn",
    "county_fips",
    "owner_first_name",
    "owner_last_name",
    "property_address",
    "property_city",
    "property_state",
    "property_zip",
    "email",
    "phone",
    "source",
)

STREETS = (
    "Maple", "Oakwood", "Birchwood", "Cedar Ridge", "Willow Creek", "Magnolia", "Sycamore",
    "Juniper", "Hawthorne", "Chestnut", "Riverside", "Lakeview", "Sunnyside", "Pinecrest",
    "Briarwood", "Fairview", "Greenbriar", "Westminster", "Kingston", "Ashford", "Beacon Hill",
    "Coronado", "Del Mar", "Esperanza", "Alameda", "Buena Vista", "Camino Real", "Mesa Verde",
)  # fmt: skip
SUFFIXES = (("Street", "St"), ("Avenue", "Ave"), ("Drive", "Dr"), ("Road", "Rd"),
            ("Lane", "Ln"), ("Court", "Ct"), ("Way", "Way"), ("Terrace", "Ter"))  # fmt: skip
# (city, state, zip prefix, county fips): Springfield and Fairview exist in
# several states, so "same street and number in another city" is realistic.
PLACES = (
    ("Springfield", "IL", "627", "17167"), ("Springfield", "MO", "658", "29077"),
    ("Fairview", "OR", "970", "41051"), ("Fairview", "TN", "370", "47187"),
    ("Pasadena", "CA", "911", "06037"), ("Tucson", "AZ", "857", "04019"),
    ("El Paso", "TX", "799", "48141"), ("Orlando", "FL", "328", "12095"),
)  # fmt: skip
FIRST = ("Carmen", "Luis", "Robert", "Margaret", "William", "Elizabeth", "Richard", "Katherine",
         "Thomas", "Patricia", "Joseph", "Dolores", "Francisco", "Guadalupe", "Anthony",
         "Josephine", "Raymond", "Beverly", "Gerald", "Theresa")  # fmt: skip
NICKNAMES = {"Robert": "Bob", "Margaret": "Peggy", "William": "Bill", "Elizabeth": "Liz",
             "Richard": "Rick", "Katherine": "Kathy", "Thomas": "Tom", "Patricia": "Pat",
             "Joseph": "Joe", "Francisco": "Paco", "Anthony": "Tony", "Raymond": "Ray",
             "Josephine": "Josie", "Theresa": "Terry", "Gerald": "Jerry"}  # fmt: skip
LAST = ("Delgado", "Okafor", "Nakamura", "Kowalski", "Fitzgerald", "Abernathy", "Villanueva",
        "Haugen", "Castellanos", "Whitfield", "Lindqvist", "Moreno", "Brennan", "Oyelaran",
        "Thibodeaux", "Marchetti", "Santiago", "Halvorsen", "Quintero", "Pemberton")  # fmt: skip


@dataclass(frozen=True)
class Property:
    """One true property and its owner."""

    pid: int
    number: int
    street: str
    suffix: tuple[str, str]
    unit: str | None
    city: str
    state: str
    zip5: str
    fips: str
    apn: str
    mak: str
    first: str
    last: str
    co_owner: str | None
    hide_unit: bool = False  # the vendor writes this unit's address without the unit


def _typo(rng: random.Random, word: str) -> str:
    """One plausible keying error: a dropped, doubled, swapped or replaced letter."""
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        return word[:i] + word[i + 1 :]
    if kind == 1:
        return word[:i] + word[i] + word[i:]
    if kind == 2:
        return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]
    near = "aeiou" if word[i].lower() in "aeiou" else "nmrtsl"
    return word[:i] + rng.choice(near) + word[i + 1 :]


def _transpose(number: int) -> int:
    digits = str(number)
    if len(digits) < 2 or digits[-1] == digits[-2]:
        return number
    return int(digits[:-2] + digits[-1] + digits[-2])


class _Maker:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.next_pid = 0
        self.apns: set[tuple[str, str]] = set()

    def _apn(self, fips: str) -> str:
        while True:
            apn = f"{self.rng.randint(100, 999)}-{self.rng.randint(10, 99)}-{self.rng.randint(100, 999)}"
            if (fips, apn) not in self.apns:
                self.apns.add((fips, apn))
                return apn

    def new(self, **fixed: object) -> Property:
        rng = self.rng
        city, state, zpre, fips = rng.choice(PLACES)
        pid, self.next_pid = self.next_pid, self.next_pid + 1
        base = Property(
            pid=pid,
            number=rng.randint(10, 9899),
            street=rng.choice(STREETS),
            suffix=rng.choice(SUFFIXES),
            unit=None,
            city=city,
            state=state,
            zip5=f"{zpre}{rng.randint(10, 99)}",
            fips=fips,
            apn="",
            mak=str(3_000_000_000 + pid * 7 + rng.randint(0, 6)),
            first=rng.choice(FIRST),
            last=rng.choice(LAST),
            co_owner=rng.choice(FIRST) if rng.random() < 0.2 else None,
        )
        made = replace(base, **fixed)  # type: ignore[arg-type]
        apn = str(fixed["apn"]) if "apn" in fixed else self._apn(made.fips)
        return replace(made, apn=apn)


def _row(rng: random.Random, p: Property, faults: set[str], source: str) -> dict[str, str]:
    """One vendor row for ``p``, with the given faults applied."""
    number = _transpose(p.number) if "transpose" in faults else p.number
    if "digit" in faults:  # the last digit one off: 1482 -> 1483 or 1481
        number = number + 1 if number % 10 < 9 else number - 1
    street = _typo(rng, p.street) if "street_typo" in faults else p.street
    suffix = p.suffix[1] if rng.random() < 0.5 else p.suffix[0]
    unit = ""
    if p.unit is not None and not p.hide_unit:
        unit = rng.choice((f" Apt {p.unit}", f" #{p.unit}", f" Unit {p.unit}"))
    address = f"{number} {street} {suffix}{unit}"
    if rng.random() < 0.3:
        address = address.upper()
    first, last = p.first, p.last
    if "owner_typo" in faults:
        last = _typo(rng, last)
    if "nickname" in faults and first in NICKNAMES:
        first = NICKNAMES[first]
    if "initial" in faults:
        first = f"{first} {rng.choice('ABCDEFGHJKLMNPRSTW')}."
    if p.co_owner is not None and rng.random() < 0.5:
        first = f"{first} & {p.co_owner}"
    if "surname_first" in faults:
        first, last = "", f"{last.upper()}, {first.upper()}"
    keep_keys = "no_keys" not in faults
    return {
        "mak": p.mak if keep_keys and rng.random() < 0.7 else "",
        "apn": p.apn if keep_keys else "",
        "county_fips": p.fips if keep_keys else "",
        "owner_first_name": first,
        "owner_last_name": last,
        "property_address": address,
        "property_city": p.city if rng.random() < 0.8 else p.city.upper(),
        "property_state": p.state,
        "property_zip": "" if "no_zip" in faults else p.zip5,
        "email": "",
        "phone": "",
        "source": source,
    }


REAPPEARANCE_FAULTS = (
    "no_keys", "street_typo", "owner_typo", "transpose", "no_zip", "surname_first",
    "nickname", "initial", "digit",
)  # fmt: skip


def generate(entities: int, seed: int) -> tuple[list[dict[str, str]], list[int]]:
    """Rows and their true property ids: ``entities`` properties, traps among them."""
    rng = random.Random(seed)
    make = _Maker(rng)
    props: list[Property] = []
    while len(props) < entities:
        trap = rng.random()
        first = make.new()
        props.append(first)
        if trap < 0.10:  # a neighbour two doors down, another owner
            props.append(make.new(street=first.street, suffix=first.suffix, city=first.city,
                                  state=first.state, zip5=first.zip5, fips=first.fips,
                                  number=first.number + rng.choice((-2, 2))))  # fmt: skip
        elif trap < 0.18:  # two units of one building, different owners
            first = replace(first, unit=str(rng.randint(1, 9)), hide_unit=True)
            props[-1] = first
            props.append(make.new(street=first.street, suffix=first.suffix, number=first.number,
                                  city=first.city, state=first.state, zip5=first.zip5,
                                  fips=first.fips, unit=str(int(first.unit or 1) + 1),
                                  hide_unit=True))  # fmt: skip
        elif trap < 0.24:  # an investor with several houses on one street
            for _ in range(rng.randint(2, 3)):
                props.append(make.new(street=first.street, suffix=first.suffix, city=first.city,
                                      state=first.state, zip5=first.zip5, fips=first.fips,
                                      first=first.first, last=first.last,
                                      number=first.number + rng.randint(3, 60)))  # fmt: skip
        elif trap < 0.30:  # parent and child, one surname, one street
            props.append(make.new(street=first.street, suffix=first.suffix, city=first.city,
                                  state=first.state, zip5=first.zip5, fips=first.fips,
                                  last=first.last, number=first.number + rng.randint(4, 40)))  # fmt: skip
        elif trap < 0.36:  # the same street and number in another city
            other = rng.choice([p for p in PLACES if p[0] != first.city or p[1] != first.state])
            props.append(make.new(street=first.street, suffix=first.suffix, number=first.number,
                                  city=other[0], state=other[1],
                                  zip5=f"{other[2]}{rng.randint(10, 99)}", fips=other[3]))  # fmt: skip
        elif trap < 0.40:  # the same APN in another county
            other = rng.choice([p for p in PLACES if p[3] != first.fips])
            props.append(make.new(apn=first.apn, city=other[0], state=other[1],
                                  zip5=f"{other[2]}{rng.randint(10, 99)}", fips=other[3]))  # fmt: skip
    rows: list[tuple[dict[str, str], int]] = []
    for p in props:
        rows.append((_row(rng, p, set(), "vendor-a"), p.pid))
        for _ in range(rng.choice((0, 0, 1, 1, 2))):
            faults = set(rng.sample(REAPPEARANCE_FAULTS, rng.choice((1, 1, 2, 3))))
            rows.append((_row(rng, p, faults, "vendor-b"), p.pid))
    rng.shuffle(rows)
    return [r for r, _ in rows], [pid for _, pid in rows]
