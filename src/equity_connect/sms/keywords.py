"""Carrier keywords: a text that is nothing but STOP (or HELP, or START) is that keyword.

CTIA's messaging principles and the carriers' 10DLC / toll-free rules reserve these
words; the FCC's 2024 revocation order (FCC 24-18) names stop, quit, end, revoke, opt out,
cancel and unsubscribe as revocations "on their own". We read the whole message: after
folding case, accents, punctuation, emoji and spacing away it must *be* the keyword
("Stop.", " STOP ", "stop!!", "Opt-out", "STOP ALL"). A sentence that merely contains one
("stop texting me but you can email") is not a keyword: the reply classifier's opt-out
guard reads it instead, and routes it as an opt-out too.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum
from typing import Final

__all__ = ["HELP_WORDS", "OPT_IN_WORDS", "OPT_OUT_WORDS", "Keyword", "keyword_of", "normalize"]


class Keyword(StrEnum):
    """What a keyword message asks for."""

    OPT_OUT = "opt_out"
    HELP = "help"
    OPT_IN = "opt_in"


#: English (CTIA / carriers) and Spanish opt-out words, folded (no accents, no spaces).
OPT_OUT_WORDS: Final = frozenset(
    {
        "stop",
        "stopall",
        "unsubscribe",
        "cancel",
        "end",
        "quit",
        "revoke",
        "optout",
        "stoptexting",
        # Spanish: "alto", "parar"/"pare"/"paren", "detener", "cancelar", "baja"/"darme de baja"
        "alto",
        "parar",
        "pare",
        "paren",
        "detener",
        "cancelar",
        "baja",
        "darmedebaja",
        "anular",
        "terminar",
        "fin",
        "salir",
    }
)
#: Asking who we are and how to stop.
HELP_WORDS: Final = frozenset({"help", "info", "ayuda", "informacion"})
#: Opting back in at the carrier (see docs/providers.md: it never lifts our suppressions).
OPT_IN_WORDS: Final = frozenset({"start", "unstop", "iniciar", "comenzar"})

_NOT_LETTERS: Final = re.compile(r"[^a-z]+")


def normalize(text: str) -> str:
    """``text`` folded to bare lowercase ASCII letters: no accents, punctuation, digits,
    emoji or spaces ("¡BAJA!" -> "baja", "Opt-Out" -> "optout", "STOP ALL" -> "stopall")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NOT_LETTERS.sub("", ascii_only)


def keyword_of(text: str | None) -> Keyword | None:
    """The keyword this whole message is, or None for any other message."""
    if not text:
        return None
    word = normalize(text)
    if word in OPT_OUT_WORDS:
        return Keyword.OPT_OUT
    if word in HELP_WORDS:
        return Keyword.HELP
    if word in OPT_IN_WORDS:
        return Keyword.OPT_IN
    return None
