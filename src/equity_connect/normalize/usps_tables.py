"""USPS Publication 28 lookup tables (Appendix C1 street suffixes, C2 unit designators).

Tables are written as ``standard abbreviation -> every spelling Pub 28 lists for it`` because
that is how the publication is laid out and so can be checked against it line by line; the
flat ``spelling -> standard`` dicts the normalizer uses are derived from them below.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

# Appendix C1: standard suffix abbreviation -> primary name and the common spellings/abbreviations.
_C1_SUFFIXES: Final[dict[str, tuple[str, ...]]] = {
    "ALY": ("ALLEY", "ALLEE", "ALLY", "ALY"),
    "ANX": ("ANEX", "ANNEX", "ANNX", "ANX"),
    "ARC": ("ARCADE", "ARC"),
    "AVE": ("AVENUE", "AV", "AVE", "AVEN", "AVENU", "AVN", "AVNUE"),
    "BYU": ("BAYOU", "BAYOO", "BYU"),
    "BCH": ("BEACH", "BCH"),
    "BND": ("BEND", "BND"),
    "BLF": ("BLUFF", "BLF", "BLUF"),
    "BLFS": ("BLUFFS", "BLFS"),
    "BTM": ("BOTTOM", "BOT", "BTM", "BOTTM"),
    "BLVD": ("BOULEVARD", "BLVD", "BOUL", "BOULV"),
    "BR": ("BRANCH", "BR", "BRNCH"),
    "BRG": ("BRIDGE", "BRDGE", "BRG"),
    "BRK": ("BROOK", "BRK"),
    "BRKS": ("BROOKS", "BRKS"),
    "BG": ("BURG", "BG"),
    "BGS": ("BURGS", "BGS"),
    "BYP": ("BYPASS", "BYP", "BYPA", "BYPAS", "BYPS"),
    "CP": ("CAMP", "CP", "CMP"),
    "CYN": ("CANYON", "CANYN", "CNYN", "CYN"),
    "CPE": ("CAPE", "CPE"),
    "CSWY": ("CAUSEWAY", "CAUSWA", "CSWY"),
    "CTR": ("CENTER", "CEN", "CENT", "CENTR", "CENTRE", "CNTER", "CNTR", "CTR"),
    "CTRS": ("CENTERS", "CTRS"),
    "CIR": ("CIRCLE", "CIR", "CIRC", "CIRCL", "CRCL", "CRCLE"),
    "CIRS": ("CIRCLES", "CIRS"),
    "CLF": ("CLIFF", "CLF"),
    "CLFS": ("CLIFFS", "CLFS"),
    "CLB": ("CLUB", "CLB"),
    "CMN": ("COMMON", "CMN"),
    "CMNS": ("COMMONS", "CMNS"),
    "COR": ("CORNER", "COR"),
    "CORS": ("CORNERS", "CORS"),
    "CRSE": ("COURSE", "CRSE"),
    "CT": ("COURT", "CT"),
    "CTS": ("COURTS", "CTS"),
    "CV": ("COVE", "CV"),
    "CVS": ("COVES", "CVS"),
    "CRK": ("CREEK", "CRK"),
    "CRES": ("CRESCENT", "CRES", "CRSENT", "CRSNT"),
    "CRST": ("CREST", "CRST"),
    "XING": ("CROSSING", "CRSSNG", "XING"),
    "XRD": ("CROSSROAD", "XRD"),
    "XRDS": ("CROSSROADS", "XRDS"),
    "CURV": ("CURVE", "CURV"),
    "DL": ("DALE", "DL"),
    "DM": ("DAM", "DM"),
    "DV": ("DIVIDE", "DIV", "DV", "DVD"),
    "DR": ("DRIVE", "DR", "DRIV", "DRV"),
    "DRS": ("DRIVES", "DRS"),
    "EST": ("ESTATE", "EST"),
    "ESTS": ("ESTATES", "ESTS"),
    "EXPY": ("EXPRESSWAY", "EXP", "EXPR", "EXPRESS", "EXPW", "EXPY"),
    "EXT": ("EXTENSION", "EXT", "EXTN", "EXTNSN"),
    "EXTS": ("EXTENSIONS", "EXTS"),
    "FALL": ("FALL",),
    "FLS": ("FALLS", "FLS"),
    "FRY": ("FERRY", "FRRY", "FRY"),
    "FLD": ("FIELD", "FLD"),
    "FLDS": ("FIELDS", "FLDS"),
    "FLT": ("FLAT", "FLT"),
    "FLTS": ("FLATS", "FLTS"),
    "FRD": ("FORD", "FRD"),
    "FRDS": ("FORDS", "FRDS"),
    "FRST": ("FOREST", "FORESTS", "FRST"),
    "FRG": ("FORGE", "FORG", "FRG"),
    "FRGS": ("FORGES", "FRGS"),
    "FRK": ("FORK", "FRK"),
    "FRKS": ("FORKS", "FRKS"),
    "FT": ("FORT", "FRT", "FT"),
    "FWY": ("FREEWAY", "FREEWY", "FRWAY", "FRWY", "FWY"),
    "GDN": ("GARDEN", "GARDN", "GRDEN", "GRDN", "GDN"),
    "GDNS": ("GARDENS", "GDNS", "GRDNS"),
    "GTWY": ("GATEWAY", "GATEWY", "GATWAY", "GTWAY", "GTWY"),
    "GLN": ("GLEN", "GLN"),
    "GLNS": ("GLENS", "GLNS"),
    "GRN": ("GREEN", "GRN"),
    "GRNS": ("GREENS", "GRNS"),
    "GRV": ("GROVE", "GROV", "GRV"),
    "GRVS": ("GROVES", "GRVS"),
    "HBR": ("HARBOR", "HARB", "HARBR", "HBR", "HRBOR"),
    "HBRS": ("HARBORS", "HBRS"),
    "HVN": ("HAVEN", "HVN"),
    "HTS": ("HEIGHTS", "HT", "HTS"),
    "HWY": ("HIGHWAY", "HIGHWY", "HIWAY", "HIWY", "HWAY", "HWY"),
    "HL": ("HILL", "HL"),
    "HLS": ("HILLS", "HLS"),
    "HOLW": ("HOLLOW", "HLLW", "HOLLOWS", "HOLW", "HOLWS"),
    "INLT": ("INLET", "INLT"),
    "IS": ("ISLAND", "IS", "ISLND"),
    "ISS": ("ISLANDS", "ISLNDS", "ISS"),
    "ISLE": ("ISLE", "ISLES"),
    "JCT": ("JUNCTION", "JCT", "JCTION", "JCTN", "JUNCTN", "JUNCTON"),
    "JCTS": ("JUNCTIONS", "JCTNS", "JCTS"),
    "KY": ("KEY", "KY"),
    "KYS": ("KEYS", "KYS"),
    "KNL": ("KNOLL", "KNL", "KNOL"),
    "KNLS": ("KNOLLS", "KNLS"),
    "LK": ("LAKE", "LK"),
    "LKS": ("LAKES", "LKS"),
    "LAND": ("LAND",),
    "LNDG": ("LANDING", "LNDG", "LNDNG"),
    "LN": ("LANE", "LN"),
    "LGT": ("LIGHT", "LGT"),
    "LGTS": ("LIGHTS", "LGTS"),
    "LF": ("LOAF", "LF"),
    "LCK": ("LOCK", "LCK"),
    "LCKS": ("LOCKS", "LCKS"),
    "LDG": ("LODGE", "LDG", "LDGE", "LODG"),
    "LOOP": ("LOOP", "LOOPS"),
    "MALL": ("MALL",),
    "MNR": ("MANOR", "MNR"),
    "MNRS": ("MANORS", "MNRS"),
    "MDW": ("MEADOW", "MDW"),
    "MDWS": ("MEADOWS", "MDWS", "MEDOWS"),
    "MEWS": ("MEWS",),
    "ML": ("MILL", "ML"),
    "MLS": ("MILLS", "MLS"),
    "MSN": ("MISSION", "MISSN", "MSSN", "MSN"),
    "MTWY": ("MOTORWAY", "MTWY"),
    "MT": ("MOUNT", "MNT", "MT"),
    "MTN": ("MOUNTAIN", "MNTAIN", "MNTN", "MOUNTIN", "MTIN", "MTN"),
    "MTNS": ("MOUNTAINS", "MNTNS", "MTNS"),
    "NCK": ("NECK", "NCK"),
    "ORCH": ("ORCHARD", "ORCH", "ORCHRD"),
    "OVAL": ("OVAL", "OVL"),
    "OPAS": ("OVERPASS", "OPAS"),
    "PARK": ("PARK", "PRK", "PARKS"),
    "PKWY": ("PARKWAY", "PARKWY", "PKWAY", "PKWY", "PKY", "PARKWAYS", "PKWYS"),
    "PASS": ("PASS",),
    "PSGE": ("PASSAGE", "PSGE"),
    "PATH": ("PATH", "PATHS"),
    "PIKE": ("PIKE", "PIKES"),
    "PNE": ("PINE", "PNE"),
    "PNES": ("PINES", "PNES"),
    "PL": ("PLACE", "PL"),
    "PLN": ("PLAIN", "PLN"),
    "PLNS": ("PLAINS", "PLNS"),
    "PLZ": ("PLAZA", "PLZ", "PLZA"),
    "PT": ("POINT", "PT"),
    "PTS": ("POINTS", "PTS"),
    "PRT": ("PORT", "PRT"),
    "PRTS": ("PORTS", "PRTS"),
    "PR": ("PRAIRIE", "PR", "PRR"),
    "RADL": ("RADIAL", "RAD", "RADIEL", "RADL"),
    "RAMP": ("RAMP",),
    "RNCH": ("RANCH", "RANCHES", "RNCH", "RNCHS"),
    "RPD": ("RAPID", "RPD"),
    "RPDS": ("RAPIDS", "RPDS"),
    "RST": ("REST", "RST"),
    "RDG": ("RIDGE", "RDG", "RDGE"),
    "RDGS": ("RIDGES", "RDGS"),
    "RIV": ("RIVER", "RIV", "RVR", "RIVR"),
    "RD": ("ROAD", "RD"),
    "RDS": ("ROADS", "RDS"),
    "RTE": ("ROUTE", "RTE"),
    "ROW": ("ROW",),
    "RUE": ("RUE",),
    "RUN": ("RUN",),
    "SHL": ("SHOAL", "SHL"),
    "SHLS": ("SHOALS", "SHLS"),
    "SHR": ("SHORE", "SHOAR", "SHR"),
    "SHRS": ("SHORES", "SHOARS", "SHRS"),
    "SKWY": ("SKYWAY", "SKWY"),
    "SPG": ("SPRING", "SPG", "SPNG", "SPRNG"),
    "SPGS": ("SPRINGS", "SPGS", "SPNGS", "SPRNGS"),
    "SPUR": ("SPUR", "SPURS"),
    "SQ": ("SQUARE", "SQ", "SQR", "SQRE", "SQU"),
    "SQS": ("SQUARES", "SQRS", "SQS"),
    "STA": ("STATION", "STA", "STATN", "STN"),
    "STRA": ("STRAVENUE", "STRA", "STRAV", "STRAVEN", "STRAVN", "STRVN", "STRVNUE"),
    "STRM": ("STREAM", "STREME", "STRM"),
    "ST": ("STREET", "STRT", "ST", "STR"),
    "STS": ("STREETS", "STS"),
    "SMT": ("SUMMIT", "SMT", "SUMIT", "SUMITT"),
    "TER": ("TERRACE", "TER", "TERR"),
    "TRWY": ("THROUGHWAY", "TRWY"),
    "TRCE": ("TRACE", "TRACES", "TRCE"),
    "TRAK": ("TRACK", "TRACKS", "TRAK", "TRK", "TRKS"),
    "TRFY": ("TRAFFICWAY", "TRFY"),
    "TRL": ("TRAIL", "TRAILS", "TRL", "TRLS"),
    "TRLR": ("TRAILER", "TRLR", "TRLRS"),
    "TUNL": ("TUNNEL", "TUNEL", "TUNL", "TUNLS", "TUNNELS", "TUNNL"),
    "TPKE": ("TURNPIKE", "TRNPK", "TURNPK", "TPKE"),
    "UPAS": ("UNDERPASS", "UPAS"),
    "UN": ("UNION", "UN"),
    "UNS": ("UNIONS", "UNS"),
    "VLY": ("VALLEY", "VALLY", "VLLY", "VLY"),
    "VLYS": ("VALLEYS", "VLYS"),
    "VIA": ("VIADUCT", "VDCT", "VIA", "VIADCT"),
    "VW": ("VIEW", "VW"),
    "VWS": ("VIEWS", "VWS"),
    "VLG": ("VILLAGE", "VILL", "VILLAG", "VILLG", "VILLIAGE", "VLG"),
    "VLGS": ("VILLAGES", "VLGS"),
    "VL": ("VILLE", "VL"),
    "VIS": ("VISTA", "VIS", "VIST", "VST", "VSTA"),
    "WALK": ("WALK", "WALKS"),
    "WALL": ("WALL",),
    "WAY": ("WAY", "WY"),
    "WAYS": ("WAYS",),
    "WL": ("WELL", "WL"),
    "WLS": ("WELLS", "WLS"),
}


def _invert(table: dict[str, tuple[str, ...]]) -> dict[str, str]:
    flat: dict[str, str] = {}
    for standard, spellings in table.items():
        for spelling in (*spellings, standard):
            # A spelling listed under two standards would make normalization order-dependent.
            if flat.setdefault(spelling, standard) != standard:
                raise ValueError(f"{spelling} maps to both {flat[spelling]} and {standard}")
    return flat


#: Any C1 spelling -> USPS standard suffix abbreviation (``AVENUE``/``AV``/``AVE`` -> ``AVE``).
STREET_SUFFIXES: Final = MappingProxyType(_invert(_C1_SUFFIXES))

#: Directionals (Pub 28 section 233 / Appendix B), long and short forms -> abbreviation.
DIRECTIONALS: Final = MappingProxyType(
    {
        "NORTH": "N",
        "SOUTH": "S",
        "EAST": "E",
        "WEST": "W",
        "NORTHEAST": "NE",
        "NORTHWEST": "NW",
        "SOUTHEAST": "SE",
        "SOUTHWEST": "SW",
        "N": "N",
        "S": "S",
        "E": "E",
        "W": "W",
        "NE": "NE",
        "NW": "NW",
        "SE": "SE",
        "SW": "SW",
    }
)

# Appendix C2: standard designator -> spellings.
_C2_WITH_RANGE: Final[dict[str, tuple[str, ...]]] = {
    "APT": ("APARTMENT", "APT"),
    "BLDG": ("BUILDING", "BLDG"),
    "DEPT": ("DEPARTMENT", "DEPT"),
    "FL": ("FLOOR", "FL"),
    "HNGR": ("HANGAR", "HNGR"),
    "KEY": ("KEY",),
    "LOT": ("LOT",),
    "PIER": ("PIER",),
    "RM": ("ROOM", "RM"),
    "SLIP": ("SLIP",),
    "SPC": ("SPACE", "SPC"),
    "STOP": ("STOP",),
    "STE": ("SUITE", "STE"),
    "TRLR": ("TRAILER", "TRLR"),
    "UNIT": ("UNIT",),
    # Pub 28 allows "#" when the designator is unknown; it always takes an identifier.
    "#": ("#",),
}
# Designators Pub 28 lists as never taking an identifier ("REAR", "PH", ...).
_C2_WITHOUT_RANGE: Final[dict[str, tuple[str, ...]]] = {
    "BSMT": ("BASEMENT", "BSMT"),
    "FRNT": ("FRONT", "FRNT"),
    "LBBY": ("LOBBY", "LBBY"),
    "LOWR": ("LOWER", "LOWR"),
    "OFC": ("OFFICE", "OFC"),
    "PH": ("PENTHOUSE", "PH"),
    "REAR": ("REAR",),
    "SIDE": ("SIDE",),
    "UPPR": ("UPPER", "UPPR"),
}

#: C2 designators that require an identifier -> standard abbreviation.
UNIT_DESIGNATORS: Final = MappingProxyType(_invert(_C2_WITH_RANGE))
#: C2 designators that stand alone (no identifier) -> standard abbreviation.
UNIT_DESIGNATORS_NO_ID: Final = MappingProxyType(_invert(_C2_WITHOUT_RANGE))

#: Designators that vendors use interchangeably for "the dwelling's number within the
#: building" (``Apt 4``, ``#4``, ``Unit 4``, ``Ste 4``): the dedupe key drops them so these
#: compare equal. Others (``BLDG A``, ``FL 2``, ``LOT 7``) name a different kind of thing and
#: stay in the key, so ``BLDG 4`` never merges with ``APT 4``.
INTERCHANGEABLE_UNIT_DESIGNATORS: Final = frozenset({"APT", "UNIT", "#", "STE"})

#: USPS state and territory codes (including military "states").
STATE_CODES: Final = frozenset(
    {
        "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL",
        "IN", "IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE",
        "NV", "NH", "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD",
        "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY",
        "AS", "GU", "MP", "PR", "VI", "UM", "FM", "MH", "PW",
        "AA", "AE", "AP",
    }
)  # fmt: skip

#: Full state/territory names -> USPS code.
STATE_NAMES: Final = MappingProxyType(
    {
        "ALABAMA": "AL", "ALASKA": "AK", "ARIZONA": "AZ", "ARKANSAS": "AR",
        "CALIFORNIA": "CA", "COLORADO": "CO", "CONNECTICUT": "CT", "DELAWARE": "DE",
        "DISTRICT OF COLUMBIA": "DC", "FLORIDA": "FL", "GEORGIA": "GA", "HAWAII": "HI",
        "IDAHO": "ID", "ILLINOIS": "IL", "INDIANA": "IN", "IOWA": "IA", "KANSAS": "KS",
        "KENTUCKY": "KY", "LOUISIANA": "LA", "MAINE": "ME", "MARYLAND": "MD",
        "MASSACHUSETTS": "MA", "MICHIGAN": "MI", "MINNESOTA": "MN", "MISSISSIPPI": "MS",
        "MISSOURI": "MO", "MONTANA": "MT", "NEBRASKA": "NE", "NEVADA": "NV",
        "NEW HAMPSHIRE": "NH", "NEW JERSEY": "NJ", "NEW MEXICO": "NM", "NEW YORK": "NY",
        "NORTH CAROLINA": "NC", "NORTH DAKOTA": "ND", "OHIO": "OH", "OKLAHOMA": "OK",
        "OREGON": "OR", "PENNSYLVANIA": "PA", "RHODE ISLAND": "RI", "SOUTH CAROLINA": "SC",
        "SOUTH DAKOTA": "SD", "TENNESSEE": "TN", "TEXAS": "TX", "UTAH": "UT",
        "VERMONT": "VT", "VIRGINIA": "VA", "WASHINGTON": "WA", "WEST VIRGINIA": "WV",
        "WISCONSIN": "WI", "WYOMING": "WY", "AMERICAN SAMOA": "AS", "GUAM": "GU",
        "NORTHERN MARIANA ISLANDS": "MP", "PUERTO RICO": "PR", "VIRGIN ISLANDS": "VI",
        "US VIRGIN ISLANDS": "VI",
    }
)  # fmt: skip

#: Spelled-out ordinals: a street named ``FIRST`` is a numbered street, which the fast path
#: leaves to the full parser rather than guess between ``FIRST`` and ``1ST``.
ORDINAL_WORDS: Final = frozenset(
    {
        "FIRST", "SECOND", "THIRD", "FOURTH", "FIFTH", "SIXTH", "SEVENTH", "EIGHTH", "NINTH",
        "TENTH", "ELEVENTH", "TWELFTH", "THIRTEENTH", "FOURTEENTH", "FIFTEENTH", "SIXTEENTH",
        "SEVENTEENTH", "EIGHTEENTH", "NINETEENTH", "TWENTIETH", "THIRTIETH", "FORTIETH",
        "FIFTIETH", "SIXTIETH", "SEVENTIETH", "EIGHTIETH", "NINETIETH", "HUNDREDTH",
    }
)  # fmt: skip

#: Route-type words whose number follows them (``HWY 1``, ``STATE ROUTE 9``, ``FM 1960``): such
#: names do not fit ``name + suffix``, so the fast path names them as the reason it declines.
HIGHWAY_WORDS: Final = frozenset(
    {
        "HWY", "HIGHWAY", "HIGHWY", "HIWAY", "HIWY", "HWAY", "RTE", "ROUTE", "RT", "SR",
        "US", "FM", "CR", "INTERSTATE",
    }
)  # fmt: skip

#: Leading tokens of post-office-box addresses (``PO BOX 12``; ``P.O.`` cleans to ``PO``).
BOX_WORDS: Final = frozenset({"PO", "POB", "BOX", "POBOX", "POST", "DRAWER", "CALLER"})
#: Leading tokens of rural-route, highway-contract and military addresses.
RURAL_ROUTE_WORDS: Final = frozenset({"RR", "HC", "RURAL", "STAR", "HCR", "PSC", "CMR"})
