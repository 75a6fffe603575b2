"""Carrier keywords: the whole message, whatever its case, spacing and punctuation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from equity_connect.sms.keywords import (
    HELP_WORDS,
    OPT_IN_WORDS,
    OPT_OUT_WORDS,
    Keyword,
    keyword_of,
    normalize,
)

ENGLISH_OPT_OUTS = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"]
SPANISH_OPT_OUTS = ["ALTO", "PARAR", "DETENER", "CANCELAR", "BAJA"]


@pytest.mark.parametrize("word", ENGLISH_OPT_OUTS + SPANISH_OPT_OUTS)
def test_every_required_opt_out_word_is_one(word: str) -> None:
    assert keyword_of(word) is Keyword.OPT_OUT
    assert keyword_of(word.lower()) is Keyword.OPT_OUT


@pytest.mark.parametrize(
    "text",
    [
        "Stop.",
        " stop ",
        "STOP!!",
        "stop all",
        "Opt-out",
        "opt out",
        "¡Alto!",
        "Bája",
        "Cancelar.",
        "STOP 🛑",
        "\tQUIT\n",
        "Parar.",
    ],
)
def test_spelled_variants_of_a_keyword(text: str) -> None:
    assert keyword_of(text) is Keyword.OPT_OUT


@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        ("HELP", Keyword.HELP),
        ("help?", Keyword.HELP),
        ("Ayuda", Keyword.HELP),
        ("START", Keyword.OPT_IN),
        ("unstop", Keyword.OPT_IN),
    ],
)
def test_help_and_start(text: str, keyword: Keyword) -> None:
    assert keyword_of(text) is keyword


@pytest.mark.parametrize(
    "text",
    [
        "Stop texting me but you can email",
        "Please don't stop",
        "I'm at the bus stop",
        "Yes please call me",
        "",
        "   ",
        "help me understand the loan",
        "start the process",
    ],
)
def test_a_sentence_with_a_keyword_is_not_a_keyword(text: str) -> None:
    assert keyword_of(text) is None


_NOISE = st.text(alphabet=st.sampled_from(list(" \t\n.,!?¡¿-_*'\"()🛑🙏")), max_size=6)


def _case_mix(word: str, flips: list[bool]) -> str:
    return "".join(
        c.upper() if f else c.lower()
        for c, f in zip(word, flips + [False] * len(word), strict=False)
    )


@given(
    word=st.sampled_from(sorted(OPT_OUT_WORDS)),
    before=_NOISE,
    after=_NOISE,
    flips=st.lists(st.booleans(), max_size=20),
)
def test_opt_out_survives_any_case_spacing_and_punctuation(
    word: str, before: str, after: str, flips: list[bool]
) -> None:
    assert keyword_of(before + _case_mix(word, flips) + after) is Keyword.OPT_OUT


@given(text=st.text(max_size=40))
def test_a_keyword_verdict_means_the_letters_are_exactly_the_keyword(text: str) -> None:
    found = keyword_of(text)
    words = {Keyword.OPT_OUT: OPT_OUT_WORDS, Keyword.HELP: HELP_WORDS, Keyword.OPT_IN: OPT_IN_WORDS}
    if found is None:
        assert not any(normalize(text) in w for w in words.values())
    else:
        assert normalize(text) in words[found]


@given(
    prefix=st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=5),
    word=st.sampled_from(sorted(OPT_OUT_WORDS)),
)
def test_a_longer_word_is_not_the_keyword(prefix: str, word: str) -> None:
    text = prefix + word
    if text in OPT_OUT_WORDS | HELP_WORDS | OPT_IN_WORDS:
        return
    assert keyword_of(text) is None
