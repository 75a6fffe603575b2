"""Reading the search box, and the list statements' shared WHERE clause."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from equity_connect.leads.service import Q, search_terms
from equity_connect.security.crypto import Keyring, PiiCipher, generate_key

CIPHER = PiiCipher(Keyring.from_values(f"k1:{generate_key()}", generate_key()))
# An unescaped LIKE wildcard: % or _ not preceded by an odd number of backslashes.
WILDCARD = re.compile(r"(?<!\\)(?:\\\\)*[%_]")


def test_each_kind() -> None:
    assert search_terms(CIPHER, "  ").kind == "none"
    assert search_terms(CIPHER, "90210").zip == "90210"
    phone = search_terms(CIPHER, "(213) 555-0101")
    assert phone.kind == "phone"
    assert phone.phone_index == search_terms(CIPHER, "+1 213 555 0101").phone_index
    assert phone.phone_index == CIPHER.blind_index("phone", "+12135550101")
    email = search_terms(CIPHER, "Maria@Example.COM")
    assert email.kind == "email"
    assert email.email_index == search_terms(CIPHER, "maria@example.com").email_index
    name = search_terms(CIPHER, "Maria  Alv")
    assert (name.kind, name.prefix, name.first, name.last) == (
        "text",
        "maria alv%",
        "maria%",
        "alv%",
    )
    assert search_terms(CIPHER, "12 Oak").prefix == "12 oak%"
    assert search_terms(CIPHER, "50%_off").prefix == "50\\%\\_off%"
    invalid = search_terms(CIPHER, "a@@b")
    assert invalid.kind == "invalid" and invalid.problem


@given(st.text(max_size=60))
def test_any_text_is_read_and_its_wildcards_stay_literal(text: str) -> None:
    terms = search_terms(CIPHER, text)
    assert terms.kind in {"none", "text", "zip", "phone", "email", "invalid"}
    for pattern in (terms.prefix, terms.first, terms.last):
        if pattern is not None:
            assert pattern.endswith("%")
            assert not WILDCARD.search(pattern[:-1])


def test_the_five_list_statements_share_one_where_clause() -> None:
    def where(name: str) -> str:
        text = Q[name]
        return re.split(r"\norder by ", text[text.index("\nwhere ") :])[0]

    names = ("count_leads", "list_leads_by_score", "list_leads_by_newest")
    names += ("list_leads_by_name", "list_leads_by_city")
    assert len({where(n) for n in names}) == 1
