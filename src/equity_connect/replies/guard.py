"""The opt-out guard: the rules that stand in front of every classifier.

A missed opt-out is a TCPA/CAN-SPAM violation, a false one only costs a lead, so this is
tuned for recall and runs before anything learned or remote: when it fires the answer is
``unsubscribe`` and no model or LLM is asked. It reads everything the homeowner wrote (the
body and signature of an email and a subject they wrote; for a call, the homeowner's
turns or the summary), never a length-capped excerpt.

How it reads, on folded (lower-case, accent-free) text:

1. The text is cut into clauses at sentence and clause ends (``. ! ? ; , :`` and line
   breaks), so "Not interested. Remove." is read as two requests, the second a bare
   revocation word.
2. In each clause a *negated removal* is masked first: "don't remove me", "no need to
   take me off", "I'm not asking to be unsubscribed", "no me borren", "no me den de baja".
   The mask stops at a "but"/"pero", so "don't remove me but stop calling" still fires on
   "stop calling". Only removal verbs are masked: a negated *contact* verb ("don't email
   me") is itself the request to stop.
3. A clause that is nothing but revocation words ("STOP", "Remove.", "Baja") is an
   opt-out: FCC 24-18 makes stop/quit/end/revoke/opt out/cancel/unsubscribe revocations
   on their own, even where the word is ambiguous inside a sentence.
4. The phrase rules (``RULES``) run over the masked text.

Every rule carries phrasings it must catch and twins it must not (a negated removal, the
visit idiom "stop by", "do not hesitate to contact me"); the tests run them all. Every
opt-out ever missed becomes an example here, a test and a training row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from equity_connect.replies.text import WHOLE_TEXT_CHANNELS, fold, split_reply

__all__ = [
    "RULES",
    "GuardRule",
    "guard_reasons",
    "guard_reply",
    "guard_text",
    "mask_negated_removal",
    "masked_clauses",
]


@dataclass(frozen=True, slots=True)
class GuardRule:
    """One way of asking to stop: a pattern on folded text, its weight, and examples.

    ``catches`` are replies the rule alone must read as an opt-out; ``twins`` are
    near-misses (usually the negated form) the whole guard must not.
    """

    name: str
    pattern: str
    weight: float
    catches: tuple[str, ...]
    twins: tuple[str, ...] = ()


_NOT_VISIT_STOP: Final = r"(?<!non-)(?<!non )(?<!one-)(?<!bus )(?<!pit )(?<!truck )(?<!rest )"
_CHANNEL_NOUNS: Final = (
    r"(?:e-?mails?|calls?|phone calls?|messages?|texts?|mail|mailings?|letters?|contact"
    r"|spam|solicitations?|correspondence|communications?|offers?|marketing|ads|flyers?"
    r"|voicemails?)"
)

RULES: Final[tuple[GuardRule, ...]] = (
    GuardRule(
        "stop",
        r"\b" + _NOT_VISIT_STOP + r"stop(?:all|ped|ping)?\b(?!-)(?! (?:by|in|over)\b)"
        r"(?! (?:thinking|wondering|laughing|smiling|talking about)\b)"
        r"(?! (?:a |the |my |our )?(?:foreclosure|tax sale|auction|eviction)\b)",
        0.95,
        ("Please stop.", "Stop emailing me.", "I have asked you twice to stop."),
        (
            "Feel free to stop by the house.",
            "Is there a way to stop foreclosure?",
            "Don't stop sending me these, they're useful.",
            "I can't stop thinking about redoing my kitchen. Call me.",
        ),
    ),
    GuardRule(
        "unsubscribe",
        r"\bun-? ?su(?:b|sc)|\bdes(?:u|in|ub)s?cri(?:b|p)|\bunenroll|\bun-?list\b",
        0.97,
        ("unsubscribe me", "Unsub", "Quiero desuscribirme."),
        ("Please don't unsubscribe me, I want the newsletter.",),
    ),
    GuardRule(
        "opt_out",
        r"\bopt(?:ed|ing|s)?[- ]?out\b|\bopt (?:me|us|my \w+|this \w+) out\b",
        0.97,
        ("Opt out.", "Opt me out of all future emails.", "I'd like to opt-out."),
        ("No need to opt me out, I'm interested.",),
    ),
    GuardRule(
        "revoke",
        r"\brevo(?:k|c)",
        0.95,
        ("I revoke my consent.", "Revoco mi consentimiento."),
        ("I revisited the offer.",),
    ),
    GuardRule(
        "consent",
        r"\b(?:withdraw\w*|retract\w*|rescind\w*|pull\w*) (?:my |our |any |all )?consent\b"
        r"|\b(?:i|we) (?:do not|don'?t|dont|never|did not|didn'?t) (?:consent|agree) to (?:these"
        r"|this|your|being|receiving|any|you)\b"
        r"|\b(?:retiro|quito) (?:mi )?consentimiento\b"
        r"|\bno (?:doy|di) (?:mi )?(?:consentimiento|permiso|autorizacion)\b"
        r"|\bno autoriz\w* (?:que|a (?:que|nadie|ustedes)|el contacto|ningun)",
        0.9,
        (
            "I withdraw my consent.",
            "I do not consent to these emails.",
            "Retiro mi consentimiento.",
            "No autorizo que me contacten.",
        ),
        (
            "Yes, I consent to a call tomorrow.",
            "I agree to a consultation.",
            "No doy crédito a estas ofertas, ¿es real?",
        ),
    ),
    GuardRule(
        "remove",
        r"\bremove (?:me|us|my|our|this|him|her|them|the (?:email|address|number))\b"
        r"(?!(?: [\w']+){0,3} (?:from|off|on) (?:the|my|our|his|her) (?:deed|title|mortgage"
        r"|loan)\b(?! (?:list|mailing|database)))"
        r"|\b(?:be|been|get|getting|being) removed\b|\bremoval\b",
        0.9,
        ("Remove me from your list.", "I asked to be removed.", "Ok, remove me."),
        (
            "Don't remove me, I actually want to learn more.",
            "Please do not remove me.",
            "My mother passed, can you help me remove her name from the deed?",
            "Can you help me remove my late husband's name from the deed?",
        ),
    ),
    GuardRule(
        "remove_list",
        r"\bremove\b.{0,40}\b(?:list|lists|database|records|mailing|mailings|system)\b",
        0.9,
        ("Kindly remove my address from your mailing list.",),
        ("Please don't remove my address from your mailing list.",),
    ),
    GuardRule(
        "take_off",
        r"\b(?:take|get|put|cross|strike) (?:me|us|my|our|this|him|her|them)\b.{0,30}?\boff\b"
        r"|\btake off (?:my|this|me)\b",
        0.95,
        ("Take me off. Now.", "Get me off this list.", "Please take my email off your list."),
        ("No need to take me off the list, just call after 5.",),
    ),
    GuardRule(
        "off_list",
        r"\boff (?:of )?(?:your|ur|the|this|that|ya|all|any) (?:\w+ ){0,2}(?:list|lists"
        r"|database|system)",
        0.9,
        ("I want off your mailing list.",),
        ("You don't need to take me off your list.",),
    ),
    GuardRule(
        "delete",
        r"\b(?:delete|erase|purge|scrub|wipe|destroy) (?:me|us|my|our|this)\b"
        r"|\b(?:lose|forget|toss|shred) (?:about )?(?:me|us|(?:my|our|this) (?:\w+ )?(?:number"
        r"|e-?mail|address|name|info\w*|details|contact\w*|file|data))\b",
        0.9,
        (
            "Delete my information from your database.",
            "Lose my number.",
            "Purge my details.",
            "Forget my email address.",
        ),
        (
            "Please do not delete my information.",
            "Can I lose my house?",
            "Don't forget my appointment is Tuesday.",
        ),
    ),
    GuardRule(
        "do_not_contact",
        r"\b(?:do not|don'?t|dont|never|quit|cease|no longer|not to)"
        r" (?:(?:ever|again|please|you|u|even|dare|to|be|want you to|need to|bother to) )*"
        r"(?:contact|e-?mail|call|phone|text|messag|writ|bother|send|mail|reach|ring|harass"
        r"|spam|solicit|pester|hound)"
        r"|\brefrain from (?:\w+ )?(?:contact|e-?mail|call|phon|text|messag|writ|send|mail|reach)",
        0.95,
        (
            "Don't contact me again.",
            "Please don't call me anymore.",
            "Never call again.",
            "Please refrain from contacting me.",
        ),
        ("Do not hesitate to reach out.", "Don't worry, I'm interested."),
    ),
    GuardRule(
        "cease",
        r"\bcease\b|\bdesist\b|\bdiscontinue\b",
        0.9,
        ("Cease and desist all contact.", "Please discontinue these mailings."),
        ("The cessation of payments worries me.",),
    ),
    GuardRule(
        "no_more",
        r"\bno (?:more|further|additional|other) (?:\w+ )?" + _CHANNEL_NOUNS + r"\b",
        0.9,
        ("No more emails please.", "No further contact.", "No more phone calls."),
        ("I have no more questions, call me.",),
    ),
    GuardRule(
        "do_not_want",
        r"\b(?:do not|don'?t|dont|no longer|never|not) (?:want|wish|need|care)\b.{0,30}?"
        r"\b(?:" + _CHANNEL_NOUNS[3:-1] + r"|to hear from|to receive|to be contacted"
        r"|to get these|receiving|to be on)\b"
        r"|\b(?:rather|prefer) (?:not|never) (?:to )?(?:receive|get|hear|be (?:contacted|called"
        r"|e-?mailed|texted|bothered|on))"
        r"|\b(?:rather|prefer) (?:that )?(?:you|u) (?:not|didn'?t|did not|don'?t|stop|never"
        r"|wouldn'?t)\b",
        0.85,
        ("I don't want to receive any more emails.", "I'd prefer not to receive these."),
        ("I don't want to miss this, send the details.", "I'd rather not wait, call today."),
    ),
    GuardRule(
        "leave_alone",
        r"\b(?:leave|let) (?:me|us|my \w+) (?:the \w+ |tf )?alone\b"
        r"|\blet (?:me|us) be(?: *(?:\||$))",
        0.85,
        ("Leave me alone.", "Let us be."),
        ("Leave me a voicemail.", "Let me be clear: I am interested."),
    ),
    GuardRule(
        "hostile",
        r"\bf(?:u|\*)[\w*]* (?:off|you)\b|\bpiss off\b|\bgo away\b|\bget lost\b|\bbuzz off\b"
        r"|\bscrew (?:off|you)\b|\bknock it off\b|\bcut it out\b|\bi want out\b",
        0.8,
        ("Go away and stop bothering me.", "Knock it off.", "I want out."),
        ("I went away for a week.",),
    ),
    GuardRule(
        "harassment",
        r"\bharass|\breport(?:ing)? (?:you|this|your)\b|\bdnc\b|\bspam(?:ming|mer|mers)?\b"
        r"|\bdo[- ]not[- ](?:call|contact|email|mail) (?:list|registry)\b"
        r"|\bno[- ](?:contact|call|calls|e-?mail) (?:list|registry)\b",
        0.8,
        (
            "This is harassment.",
            "I'm on the Do Not Call registry.",
            "Please put me on your no-contact list.",
        ),
        ("Is this the harbor view listing?",),
    ),
    GuardRule(
        "cancel",
        r"\bcancel(?:ar)? (?:my|me|this|all|your|it|that|subscription|emails?|everything|mi"
        r"|la|todo|these|the (?:emails|list|calls|mailings))\b|\bcancel\w* (?:la )?suscrip",
        0.85,
        ("Cancel my subscription.", "Cancelar mi suscripción."),
        ("Don't cancel my subscription.",),
    ),
    GuardRule(
        "enough",
        r"\benough (?:already|is enough|with (?:the|these|your))\b"
        r"|\bblock(?:ing|ed)? (?:you|your|this)\b",
        0.75,
        ("Enough with the emails.", "I'm blocking you."),
        ("That's enough information, call me.",),
    ),
    GuardRule(
        "es_no_contact",
        r"\bno (?:me |nos |le |les |lo |la |los |las )?(?:v[ou]e?lv\w* a |sig\w* |intent\w* )?"
        r"(?:contact|escrib|llam|mand|envi|molest|busqu|marqu)",
        0.9,
        (
            "Por favor no me contacten.",
            "Favor de no volver a escribirme.",
            "Pidió que no lo vuelvan a llamar.",
        ),
        ("No dude en contactarme.",),
    ),
    GuardRule(
        "es_stop_doing",
        r"\bdej\w* de (?:mand|envi|escrib|llam|contact|molest|busc|marc)|\bparen\b"
        r"|\bpara(?:le)? ya\b",
        0.95,
        ("Dejen de mandarme correos.", "Paren, por favor."),
        ("No dejen de mandarme información.",),
    ),
    GuardRule(
        "es_leave_alone",
        r"\bdej\w*(?:me|nos|la|lo) en paz\b|\bdej\w*(?:me|nos) tranquil"
        r"|(?<!no se )(?<!no te )\bolvid\w* de (?:mi|nosotros)\b",
        0.9,
        ("Déjenme en paz.", "Déjenme tranquila.", "Olvídense de mí."),
        ("Me dejaron un mensaje.", "No se olviden de mí, llámenme el lunes."),
    ),
    GuardRule(
        "es_no_more",
        r"\bno (?:mas|quiero mas) (?:correos?|e-?mails?|mensajes?|llamadas?|cartas?"
        r"|informacion|publicidad|ofertas?)\b|\bbasta de\b",
        0.9,
        ("No más mensajes, gracias.", "Basta de correos."),
        ("No más preguntas, llámenme.",),
    ),
    GuardRule(
        "es_baja",
        r"\bbaj(?:a|e|en)(?:me|nos|lo|la)\b|\bde baja\b",
        0.95,
        ("Bájenme de la lista.", "Quiero darme de baja."),
        ("No me den de baja, sí me interesa.", "No necesito que me den de baja."),
    ),
    GuardRule(
        "es_remove",
        r"\b(?:quit|saqu|sac|elimin|borr|remuev|retir|exclu)\w*(?:me|nos)\b"
        r"|\b(?:elimin|borr|quit|saqu)\w* (?:mis?|nuestros?|sus?|los|el|este) (?:datos|correos?"
        r"|e-?mails?|numeros?|telefonos?|informacion|direccion)\b"
        r"|\bque (?:me|nos) (?:borr|elimin|quit|saqu|sac|retir|exclu)\w*"
        r"|\b(?:quit|saqu|sac|elimin|borr|retir)\w* de (?:la|su|sus|esta|esa|nuestra) (?:lista"
        r"|base)",
        0.9,
        (
            "Elimínenme de su lista.",
            "Borren mis datos.",
            "Pidió que la quiten de la lista.",
            "Borren mi correo.",
            "Por favor eliminen mi número.",
            "Quiero que me borren.",
        ),
        (
            "No me borren, por favor.",
            "No me quiten de la lista.",
            "No borren mi correo, sí me interesa.",
            "No quiero que me borren.",
            "¿Quién es usted y de dónde sacó mi correo?",
        ),
    ),
    GuardRule(
        "es_do_not_want",
        r"\bno (?:quiero|queremos|deseo|deseamos) (?:recibir|que me|que nos|seguir recibiendo"
        r"|mas (?:correos|mensajes|llamadas|informacion)|saber (?:nada|mas) de)",
        0.85,
        ("No quiero recibir más correos.", "No quiero que me llamen."),
        ("No quiero perderme esta información.",),
    ),
    GuardRule(
        "es_enough",
        r"\bbasta\b(?! con)|\bya basta\b",
        0.75,
        ("¡Ya basta!",),
        ("Basta con una llamada corta.",),
    ),
)

# A clause that is nothing but these words (and filler) is a revocation on its own.
_REVOCATION_WORDS: Final = frozenset(
    {
        "stop",
        "stopall",
        "unsubscribe",
        "unsub",
        "cancel",
        "end",
        "quit",
        "revoke",
        "optout",
        "remove",
        "removed",
        "delete",
        "alto",
        "baja",
        "parar",
        "para",
        "paren",
        "cancelar",
        "basta",
        "enough",
        "borrar",
        "eliminar",
    }
)
_REVOCATION_PHRASES: Final = frozenset(
    {"opt out", "remove me", "no mas", "no more", "i quit", "stop all", "take me off", "de baja"}
)
_FILLER: Final = frozenset(
    {
        "please",
        "pls",
        "plz",
        "now",
        "thanks",
        "thank",
        "you",
        "por",
        "favor",
        "ok",
        "okay",
        "yes",
        "si",
        "just",
        "already",
        "ya",
        "again",
        "gracias",
        "and",
        "y",
        # "End this.", "Stop it.": the object of a bare revocation word is this thread.
        "this",
        "it",
        "that",
        "these",
        "all",
        "esto",
    }
)
_WORDS: Final = re.compile(r"[a-z]+")

# Clause ends. Folded text has no accents, and "¿"/"¡" are spaced out by ``fold``.
_CLAUSE_END: Final = re.compile(r"[.!?;,:\n]+|\s[-–—]+\s")

# A negated removal: a request *not* to remove/unsubscribe/delete. Anchored at the start of
# a clause or after a word that opens a request, so "you didn't remove me" (a complaint,
# an opt-out) is not masked, and never after "why" ("why don't you remove me").
_NEG_EN: Final = (
    r"(?:(?:^|(?<=please )|(?<=pls )|(?<=but )|(?<=just )|(?<=so )|(?<=oh )|(?<=no )"
    r"|(?<=wait )|(?<=and )|(?<=actually )|(?<=hey ))(?:do not|don'?t|dont)"
    r"|\bi (?:do not|don'?t|dont) (?:want|wish|need)(?: you)? to"
    r"|\bi (?:would not|wouldn'?t) (?:want|like)(?: you)? to"
    r"|\b(?:there'?s |there is |there'?s really )?no (?:need|reason) (?:for you )?to"
    r"|\b(?:you )?(?:do not|don'?t|dont) (?:need|have) to"
    r"|\bnot necessary to|\bplease never"
    r"|\b(?:i'?m|i am|we'?re|we are) not asking(?: you)?(?: to)?"
    r"|\bi (?:did not|didn'?t|never) ask(?:ed)?(?: you)?(?: to)?)"
)
_FILL_EN: Final = r"(?: (?:please|ever|even|you|u|go|just|be|get|have|to|ahead|and|bother))*"
_VERB_EN: Final = (
    r" (?:remov\w*|tak\w* (?:me|us|my|our|this|him|her)\b|tak\w* off|unsub\w*|delet\w*"
    r"|opt\w*|drop\w*|stop\w*|cancel\w*|eras\w*|purg\w*|block\w*|cross\w*|get (?:me|us) off"
    r"|kick\w*|put (?:me|us) on)"
)
_NEG_ES: Final = (
    r"\bno (?:me|nos|lo|la) (?:vayan a |vaya a |van a )?"
    r"(?:borr|quit|saqu|sac|elimin|remuev|retir|cancel|d[ae]n? de baja|baj|exclu)"
    r"|\bno (?:quiero|queremos|deseo|necesito|necesitamos|pido) (?:que (?:me|nos) |darme |ser )?"
    r"(?:borr|quit|saqu|sac|elimin|retir|cancel|d[ae]n? de baja|dar de baja|baj)"
    r"|\bno (?:es necesario|hace falta|hay (?:necesidad|que)) (?:de )?(?:que (?:me|nos) )?"
    r"(?:\w+ )?(?:borr|quit|saqu|sac|elimin|retir|cancel|d[ae]n? de baja|dar de baja|baj)"
    r"|\bno dej\w* de (?:mand|envi|escrib|llam|contact)"
    r"|\bno (?:borr|elimin|quit|saqu|sac|retir)\w* (?:mis?|nuestros?)\b"
)
# The mask runs to the end of the clause but stops before a turn to a new request.
_MASK_TAIL: Final = r"(?:(?!\b(?:but|pero|sino|however|instead|though)\b).){0,60}"
_NEGATED_REMOVAL: Final = re.compile(
    r"(?:" + _NEG_EN + _FILL_EN + _VERB_EN + r"|" + _NEG_ES + r")" + _MASK_TAIL
)


@dataclass(frozen=True, slots=True)
class _Compiled:
    pattern: re.Pattern[str]
    names: dict[str, GuardRule]


def _compile(rules: tuple[GuardRule, ...]) -> _Compiled:
    groups = [f"(?P<r{i}>{rule.pattern})" for i, rule in enumerate(rules)]
    return _Compiled(re.compile("|".join(groups)), {f"r{i}": rule for i, rule in enumerate(rules)})


_ALL: Final = _compile(RULES)


def mask_negated_removal(clause: str) -> str:
    """``clause`` (folded) with every negated removal replaced by ``[kept]``."""
    return _NEGATED_REMOVAL.sub(" [kept] ", clause)


def masked_clauses(text: str) -> list[str]:
    """``text`` folded, cut into clauses, each with its negated removals masked; the phrase
    rules read these joined by ``" | "``."""
    # Lines first: ``fold`` joins lines, and a line break ends a clause.
    return [
        mask_negated_removal(c.strip())
        for line in text.splitlines()
        for c in _CLAUSE_END.split(fold(line))
        if c.strip()
    ]


def _is_revocation_clause(clause: str) -> bool:
    words = [w for w in _WORDS.findall(clause) if w not in _FILLER]
    if not words:
        return False
    return all(w in _REVOCATION_WORDS for w in words) or " ".join(words) in _REVOCATION_PHRASES


def guard_text(text: str, *, revocation_words: bool = True) -> list[str]:
    """Names of the guard rules that fire on ``text`` (raw or folded); empty when none.

    ``revocation_words`` off reads only the phrase rules (for a subject we wrote, where a
    lone "end" or "remove" would be our own words).
    """
    clauses = masked_clauses(text)
    if not clauses:
        return []
    fired: list[str] = []
    if revocation_words and any(_is_revocation_clause(c) for c in clauses):
        fired.append("revocation_word")
    for match in _ALL.pattern.finditer(" | ".join(clauses)):
        if match.lastgroup is not None:
            fired.append(_ALL.names[match.lastgroup].name)
    return list(dict.fromkeys(fired))


_REPLY_PREFIX: Final = re.compile(r"^(?:(?:re|fw|fwd|rv|aw|tr)\s*(?:\[\d+\])?\s*:\s*)+")


def guard_reasons(body: str, signature: str = "", subject: str | None = None) -> list[str]:
    """``unsubscribe:<rule>`` reasons for the homeowner's own parts of an email.

    ``body`` and ``signature`` come from ``split_reply`` (quotes and our footer already
    removed). A subject is read in full only when the homeowner wrote it (no "Re:"): a
    "Re:" subject is our own, and still counts when it is nothing but a revocation word.
    """
    reasons = [f"unsubscribe:{name}" for name in guard_text(body)]
    reasons += [f"unsubscribe:{name}" for name in guard_text(signature)]
    if subject:
        folded_subject = fold(subject)
        own = _REPLY_PREFIX.sub("", folded_subject)
        if own != folded_subject:
            if _is_revocation_clause(own):
                reasons.append("unsubscribe:subject_revocation_word")
        else:
            reasons += [f"unsubscribe:subject_{name}" for name in guard_text(own)]
    return list(dict.fromkeys(reasons))


def guard_reply(text: str, subject: str | None = None, channel: str = "email") -> list[str]:
    """The guard over a whole reply; ``channel`` "call" reads the text as it is (the
    homeowner's turns or a summary: the email clean-up would cut a transcript at its
    first "Hello,")."""
    if channel in WHOLE_TEXT_CHANNELS:
        return [f"unsubscribe:{name}" for name in guard_text(text)]
    parts = split_reply(text)
    return guard_reasons(parts.body, parts.signature, subject)


_WEIGHTS: Final = {rule.name: rule.weight for rule in RULES}


def guard_confidence(reasons: list[str]) -> float:
    """The confidence of a guard verdict: its strongest rule."""
    if any(r.endswith("revocation_word") for r in reasons):
        return 0.99
    names = (r.removeprefix("unsubscribe:").removeprefix("subject_") for r in reasons)
    return max(_WEIGHTS.get(n, 0.8) for n in names)
