"""A realistic vendor CSV for the demo: owners 55+, messy repeats, a few bad rows.

Deterministic for a seed, so re-running the demo re-sends the same bytes
(and the upload is recognised as a duplicate).
"""

from __future__ import annotations

import csv
import io
import random

HEADER = [
    "MAK",
    "APN",
    "County FIPS",
    "Owner First Name",
    "Owner Last Name",
    "Site Address",
    "City",
    "State",
    "Zip Code",
    "Email Address",
    "Phone Number",
    "AVM",
    "Equity",
    "Owner Age",
    "Year Built",
    "Lot Size",
]
_PLACES = [
    ("Los Angeles", "CA", "900", "06037"),
    ("San Diego", "CA", "921", "06073"),
    ("Phoenix", "AZ", "850", "04013"),
    ("Houston", "TX", "770", "48201"),
    ("Miami", "FL", "331", "12086"),
    ("Seattle", "WA", "981", "53033"),
    ("Denver", "CO", "802", "08031"),
    ("Atlanta", "GA", "303", "13121"),
]
_STREETS = ["Maple", "Oak", "Cedar", "Lincoln", "Sunset", "Highland", "Lakeview", "Willow"]
_SUFFIXES = [("Street", "St"), ("Avenue", "Ave"), ("Drive", "Dr"), ("Court", "Ct"), ("Lane", "Ln")]
_FIRST = ["Maria", "James", "Linda", "Robert", "Patricia", "José", "Mei", "Grace", "Henry", "Ana"]
_LAST = ["Garcia", "Johnson", "Nguyen", "Smith", "Lopez", "Brown", "Kim", "O'Neil", "Davis"]


def _owner(rng: random.Random, i: int) -> dict[str, str]:
    city, state, zip3, fips = rng.choice(_PLACES)
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    long, short = rng.choice(_SUFFIXES)
    value = rng.randint(250, 1800) * 1000
    unit = f" Apt {rng.randint(1, 30)}" if rng.random() < 0.15 else ""
    return {
        "MAK": str(2_100_000_000 + i) if rng.random() < 0.75 else "",
        "APN": f"{rng.randint(1000, 9999)}-{rng.randint(100, 999)}-{i % 1000:03d}",
        "County FIPS": fips,
        "Owner First Name": first,
        "Owner Last Name": last,
        "Site Address": f"{rng.randint(10, 9999)} {rng.choice(_STREETS)} {short}{unit}",
        "_long": long,
        "_short": short,
        "City": city,
        "State": state,
        "Zip Code": f"{zip3}{rng.randint(10, 99)}",
        "Email Address": f"{first.lower()}.{last.lower().replace(chr(39), '')}{i}@example.com"
        if rng.random() < 0.7
        else "",
        "Phone Number": f"({rng.randint(201, 989)}) 555-{rng.randint(100, 199):04d}"
        if rng.random() < 0.6
        else "",
        "AVM": f"${value:,}",
        "Equity": str(int(value * rng.uniform(0.35, 1.0))),
        "Owner Age": str(rng.randint(55, 92)),
        "Year Built": str(rng.randint(1940, 2015)),
        "Lot Size": str(rng.randint(3000, 12000)),
    }


def _messy(rng: random.Random, row: dict[str, str]) -> dict[str, str]:
    """The same property as another vendor writes it."""
    again = dict(row)
    again["Site Address"] = again["Site Address"].replace(f" {row['_short']}", f" {row['_long']}")
    again["Site Address"] = rng.choice([str.upper, str.lower, str.title])(again["Site Address"])
    if rng.random() < 0.5:
        again["MAK"] = ""
    if rng.random() < 0.5:
        again["APN"] = again["APN"].replace("-", "")
    again["Email Address"] = again["Email Address"].upper()
    return again


def generate(rows: int = 2000, *, seed: int = 7) -> bytes:
    """CSV bytes: ``rows`` data rows, about 10% repeats and 2% rows that must be rejected."""
    rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not secrets
    owners: list[dict[str, str]] = []
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HEADER, extrasaction="ignore")
    writer.writeheader()
    for i in range(rows):
        roll = rng.random()
        if owners and roll < 0.10:
            row = _messy(rng, rng.choice(owners))
        elif roll < 0.12:
            row = _owner(rng, i)
            bad = rng.choice(["State", "Zip Code", "AVM", "Owner Age"])
            row[bad] = {"State": "ZZ", "Zip Code": "ABCDE", "AVM": "call us", "Owner Age": "-4"}[
                bad
            ]
        else:
            row = _owner(rng, i)
            owners.append(row)
        writer.writerow(row)
    return out.getvalue().encode()
