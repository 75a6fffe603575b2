"""The opt-out guard: every phrasing it lists, its negated twins, clauses, quotes, Spanish."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from equity_connect.replies.classify import classify_reply
from equity_connect.replies.guard import (
    RULES,
    GuardRule,
    guard_reply,
    guard_text,
    masked_clauses,
)
from equity_connect.replies.schemas import ReplyIntent
from equity_connect.replies.train import load_rows

CATCHES = [(rule, text) for rule in RULES for text in rule.catches]
TWINS = [(rule, text) for rule in RULES for text in rule.twins]


def _id(item: tuple[GuardRule, str]) -> str:
    return f"{item[0].name}:{item[1][:30]}"


@pytest.mark.parametrize("case", CATCHES, ids=[_id(c) for c in CATCHES])
def test_every_listed_phrasing_is_caught_by_its_rule(case: tuple[GuardRule, str]) -> None:
    rule, text = case
    assert re.search(rule.pattern, " | ".join(masked_clauses(text))), rule.name
    assert guard_text(text)


@pytest.mark.parametrize("case", TWINS, ids=[_id(c) for c in TWINS])
def test_every_twin_does_not_fire(case: tuple[GuardRule, str]) -> None:
    _rule, text = case
    assert guard_text(text) == []


def test_every_rule_has_examples_and_a_twin() -> None:
    assert all(rule.catches and rule.twins for rule in RULES)
    assert len({rule.name for rule in RULES}) == len(RULES)


# Opt-outs the old rules missed or misread, and declines they read as opt-outs: each one
# is also a training row in data/replies/hard-cases.jsonl.
@pytest.mark.parametrize(
    "text",
    [
        "Opt me out of all future emails.",
        "Not interested. Remove.",
        "Not interested, remove",
        "no. stop.",
        "Yes, stop.",
        "Don't remove me but stop calling.",
        "You didn't remove me! Still getting these.",
        "Why don't you remove me already?",
        "I'd rather you didn't call at all.",
        "Please discontinue all mailings to this address.",
        "No further correspondence, please.",
        "Take my number off your call list.",
        "Forget my email address.",
        "No quiero que me vuelvan a escribir.",
        "Ya no me manden nada. Bórrenme.",
        "No me interesa. Baja.",
        "Paren de llamar.",
        "The homeowner asked not to be called again.",
        "Customer requested removal from the list.",
        # Found while writing the second batch of training rows (hard-cases-2.jsonl).
        "Enough.",
        "Please refrain from contacting me.",
        "I withdraw my consent.",
        "I do not consent to these emails.",
        "Please put me on your no-contact list.",
        "Olvídense de mí.",
        "Quiero que me borren.",
        "Por favor eliminen mi número.",
        "Borren mi correo.",
        # Missed by the guard on the fresh held-out set (the model caught it); a bare
        # revocation word with "this"/"it" as its object.
        "End it.",
        "Cancel this, please.",
        "Stop it. Now.",
    ],
)
def test_opt_outs(text: str) -> None:
    assert guard_text(text)


@pytest.mark.parametrize(
    "text",
    [
        "Don't remove me, I actually want to learn more.",
        "Please don't take me off the list.",
        "No need to take me off, just call after 5.",
        "There's no need to unsubscribe me.",
        "I'm not asking to be removed, I have a question.",
        "I don't want you to remove me.",
        "No me borren, por favor.",
        "No me den de baja.",
        "No es necesario que me den de baja.",
        "No me quiten de la lista, me interesa.",
        "Pass.",
        "I already have a reverse mortgage with another company.",
        "Count me in. What are the next steps?",
        "Feel free to stop by on Saturday.",
        "Do not hesitate to call me at 602-555-0147.",
        # Their twins, and declines and questions an earlier rule read as opt-outs.
        "That's enough for today, call me tomorrow.",
        "I don't want you to stop, I'm interested.",
        "Yes, I consent to being called.",
        "No se olviden de mí, llámenme.",
        "No quiero que me borren.",
        "No borren mi número, por favor.",
        "Can I lose my house?",
        "Don't forget my appointment is Tuesday.",
        "Is there a way to stop foreclosure?",
        "Can you help me remove her name from the deed?",
        "Don't end this, I'm interested.",
        "Don't cancel it, I still want the estimate.",
    ],
)
def test_not_opt_outs(text: str) -> None:
    assert guard_text(text) == []


def test_each_clause_is_read_on_its_own() -> None:
    # "remove" alone is a revocation; inside a sentence it is not.
    assert guard_text("Not interested. Remove.") == ["revocation_word"]
    assert guard_text("I will remove the old roof next year.") == []


def test_a_mask_stops_at_but() -> None:
    assert "stop" in guard_text("Don't take me off the list but stop calling me at work")
    assert guard_text("No me borren pero dejen de llamar") == ["es_stop_doing"]


QUOTE = (
    "\n\nOn Tue, Mar 4, 2025 at 9:14 AM Daniel <d@equityconnect.example> wrote:\n"
    "> Hi Rosa, would you be open to a quick call?\n"
    "> Reply STOP to unsubscribe.\n"
    "> To unsubscribe click here: https://eq.example/u/7f3a\n"
)
QUOTE_ES = (
    "\n\nEl mar, 4 mar 2025 a las 9:14, Daniel <d@equityconnect.example> escribió:\n"
    "> Hola Rosa, ¿le interesa una llamada?\n"
    "> Responda BAJA para no recibir más correos.\n"
)


@pytest.mark.parametrize(
    "text",
    [
        "Yes, call me tomorrow." + QUOTE,
        "Sí, llámeme mañana." + QUOTE_ES,
        "Sounds good.\n\nReply STOP to unsubscribe.",
        "What is the rate?\nTo unsubscribe click here: https://eq.example/u/1",
        "Me interesa.\nPara darse de baja haga clic aquí: https://eq.example/u/2",
    ],
)
def test_quoted_and_pasted_footers_are_not_the_homeowners_opt_out(text: str) -> None:
    assert guard_reply(text, "Re: Your home's equity") == []


def test_opt_out_above_a_quote_and_in_a_signature() -> None:
    assert guard_reply("please stop" + QUOTE)
    assert guard_reply("No más correos." + QUOTE_ES)
    assert guard_reply("Thanks for the info.\n\nThanks,\nRosa\nSent: do not email me")


def test_subject_the_homeowner_wrote() -> None:
    assert guard_reply("", "Unsubscribe")
    assert guard_reply("hi", "Please remove me")
    # Our own subject ("Re: ...") is read only when it is a bare revocation word.
    assert guard_reply("thanks", "Re: STOP")
    assert guard_reply("thanks", "Re: Stop paying too much interest") == []


def test_a_call_is_read_whole() -> None:
    # The email clean-up would cut at "Hello," and lose the opt-out after it.
    said = "Yes this is Rosa.\nHello,\nDon't call this number again."
    assert guard_reply(said, channel="call")


@given(
    before=st.sampled_from(["Don't remove me", "No me borren", "No need to take me off"]),
    after=st.sampled_from(["stop calling", "dejen de llamar", "no more emails", "unsubscribe"]),
    joiner=st.sampled_from([". ", "! ", " but ", " pero ", "\n", "; "]),
)
def test_a_negated_removal_never_masks_a_later_request(
    before: str, after: str, joiner: str
) -> None:
    assert guard_text(before + joiner + after)


@given(st.text(max_size=400))
def test_guard_never_crashes(text: str) -> None:
    assert isinstance(guard_text(text), list)


def test_no_quoted_footer_in_the_training_replies_fires_the_guard() -> None:
    # Every labelled reply that quotes our email with its footer ("Reply STOP to
    # unsubscribe", "Para darse de baja...") and is not itself an opt-out.
    footer = re.compile(r"(?im)^>?.*\b(?:stop|unsubscribe|baja|opt out)\b.*$")
    quoted = [
        r
        for r in load_rows()
        if r.intent.value != "unsubscribe" and "\n" in r.text and footer.search(r.text)
    ]
    assert len(quoted) >= 20
    fired = [r.text[:60] for r in quoted if guard_reply(r.text, r.subject, r.channel)]
    assert fired == []


# A footer sentence of ours is removed before the guard reads a reply; the homeowner's own
# request written right after our words, past a clause break, must survive that.
FOOTER_LEAD_INS = [
    "You're receiving this without my consent",
    "This email was sent to the wrong person",
    "If you don't want to receive a complaint",
    "Reply STOP to unsubscribe and I did",
    "Manage your preferences my foot",
    "To unsubscribe here",
    "Estás recibiendo este mensaje sin mi permiso",
    "Para darse de baja aquí",
]
STOP_REQUESTS = ["remove me", "stop emailing me", "take me off your list", "bórrame", "stop"]


@pytest.mark.parametrize("lead_in", FOOTER_LEAD_INS)
@pytest.mark.parametrize("request_", STOP_REQUESTS)
@pytest.mark.parametrize("joint", [", ", "; ", ": ", " | "])
def test_a_request_after_footer_words_is_still_an_opt_out(
    lead_in: str, request_: str, joint: str
) -> None:
    assert classify_reply(f"{lead_in}{joint}{request_}").intent == ReplyIntent.UNSUBSCRIBE


def test_a_phone_default_line_above_the_reply_does_not_hide_it() -> None:
    assert classify_reply("Sent from my iPhone\nunsubscribe me").intent == ReplyIntent.UNSUBSCRIBE
    assert classify_reply("Sent from my iPhone").intent != ReplyIntent.UNSUBSCRIBE


@pytest.mark.parametrize(
    "footer",
    [
        "If you no longer wish to receive these emails, click here to unsubscribe.",
        "Reply STOP to unsubscribe.",
        "To unsubscribe, click here: https://example.com/u",
        "You are receiving this because you opted in, manage your preferences here.",
        "Para darse de baja, haga clic aquí.",
    ],
)
def test_a_footer_that_runs_past_a_comma_is_still_not_the_homeowners_opt_out(footer: str) -> None:
    assert classify_reply(f"Yes, I'm interested, call me.\n\n{footer}").intent != (
        ReplyIntent.UNSUBSCRIBE
    )
