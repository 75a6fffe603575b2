"""Reply text clean-up: keep what the homeowner wrote, drop everything else.

A reply arrives with our own email quoted under it, and our email ends with an unsubscribe
footer. Classifying the whole text would read every quoted footer as an opt-out and every
quoted "would you be open to a call?" as interest, so the classifier only looks at the part
above the quote (``body``) and, for opt-outs only, the homeowner's own signature block.

Everything here is line-based and anchored at line or sentence starts on purpose: a stop
phrase inside the homeowner's own sentence must never be removed by a clean-up rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from equity_connect.normalize.phone import to_e164

__all__ = [
    "WHOLE_TEXT_CHANNELS",
    "ReplyParts",
    "find_phone",
    "fold",
    "split_reply",
    "strip_reply",
]

# Channels whose text is the homeowner's own words as they are: a call's turns or summary,
# a text message. They have no quotes, signatures or footers to cut, and the email clean-up
# would cut a transcript at its first "Hello,".
WHOLE_TEXT_CHANNELS: Final = frozenset({"call", "sms"})


@dataclass(frozen=True, slots=True)
class ReplyParts:
    """A reply split into the homeowner's words, their signature and what was removed.

    ``removed`` names the clean-up steps that fired (``quote_header``, ``footer``...), never
    any of the text, so it can go into a classification's reasons.
    """

    body: str
    signature: str
    removed: tuple[str, ...]


# --- lines that start quoted or forwarded material: everything from them on is dropped
_QUOTED_LINE: Final = re.compile(r"^\s*>")
_ORIGINAL_MESSAGE: Final = re.compile(
    r"^\s*(?:[-_=*]{2,}\s*(?:original message|mensaje original|forwarded message|"
    r"mensaje reenviado|reply message)\s*[-_=*]{2,}|begin forwarded message:|"
    r"inicio del mensaje reenviado:)\s*$",
    re.IGNORECASE,
)
# Outlook draws a rule of underscores above the "From:/Sent:" block.
_RULE_LINE: Final = re.compile(r"^\s*_{8,}\s*$")
_HEADER_FROM: Final = re.compile(r"^\s*\**(?:from|de)\s*:\**\s*\S", re.IGNORECASE)
_HEADER_NEXT: Final = re.compile(
    r"^\s*\**(?:sent|date|enviado|fecha|subject|asunto)\s*:", re.IGNORECASE
)
_ON_PREFIX: Final = re.compile(r"^\s*(?:on|el|am|le)\s", re.IGNORECASE)
# "On Tue, Mar 4, 2025 at 9:14 AM Daniel <d@x.com> wrote:" (Gmail wraps it over two or
# three lines) and the Spanish "El mar, 4 mar 2025 a las 9:14, Daniel (<d@x.com>) escribió:".
_ON_WROTE: Final = re.compile(
    r"^\s*(?:on|el|am|le)\s.{0,300}?(?:wrote|escribi[oó]|schrieb|a écrit)\s*:\s*$",
    re.IGNORECASE | re.DOTALL,
)
_DIGIT: Final = re.compile(r"\d")
_MOBILE_FOOTER: Final = re.compile(
    r"^\s*(?:sent from (?:my|yahoo|outlook|mail|gmail|aol)|sent via|enviado desde (?:mi|yahoo|"
    r"outlook)|get outlook for|obtener outlook para|descargar outlook)\b",
    re.IGNORECASE,
)
# A greeting after the homeowner has already written something is the top of an earlier
# message pasted without quote marks (ours, in practice): "Hi Carol," / "Hola Rosa:".
_SALUTATION: Final = re.compile(
    r"^\s*(?:hi|hello|dear|hola|estimad[oa]s?|buenos d[ií]as|buenas tardes)\b"
    r"[^.!?\n]{0,40}[,:]\s*$",
    re.IGNORECASE,
)
_DISCLAIMER: Final = re.compile(
    r"^\s*(?:confidentiality notice|confidential(?:ity)?\s*:|disclaimer\s*:|aviso de "
    r"confidencialidad|this (?:e-?mail|message)(?: and any (?:files|attachments)[^.]{0,40})? "
    r"(?:is|are|may be|contains?) (?:confidential|privileged))",
    re.IGNORECASE,
)

# --- signatures
_SIG_DELIMITER: Final = re.compile(r"^--\s*$")
_SIGN_OFF: Final = re.compile(
    r"^\s*(?:thanks(?: (?:again|so much|a lot|very much))?|thank you(?: (?:so|very) much)?|"
    r"many thanks|thx|regards|best(?: regards| wishes)?|kind regards|warm(?:est)? regards|"
    r"warmly|sincerely(?: yours)?|yours(?: truly)?|cheers|respectfully|take care|god bless|"
    r"blessings|saludos(?: cordiales)?|un saludo|atentamente|cordialmente|gracias|"
    r"muchas gracias|mil gracias|bendiciones|que dios (?:le|los|te) bendiga)\s*[,.!:]*\s*$",
    re.IGNORECASE,
)
_MAX_SIGNATURE_LINES: Final = 6

# --- our own footer, when a client pasted our email back without quote marks. Only whole
# footer *sentences* starting a line or a sentence are removed, so "I tried to unsubscribe,
# remove me" keeps its opt-out.
_FOOTER_PHRASES: Final = (
    r"to (?:unsubscribe|opt[- ]?out|stop receiving(?: these| our| future)?(?: e-?mails|"
    r" messages)?)[,:]?\s*(?:please\s+)?(?:click|tap|visit|go to|use|follow|reply|respond|"
    r"here|below)",
    r"to (?:unsubscribe|opt[- ]?out)[^.!?,;:|\n]{0,40}https?://",
    r"(?:click|tap) (?:here|below|this link|the link(?: below)?) to (?:unsubscribe|"
    r"opt[- ]?out|stop receiving|be removed)",
    r"unsubscribe(?: here| below| now)?\s*[:|]?\s*<?https?://",
    r"unsubscribe\s*\|",
    r"(?:reply|respond|text)(?: with)? [\"'“]?(?:stop|unsubscribe|remove)[\"'”]?(?: to| and| if)",
    r"if you (?:no longer|do not|don'?t|would rather not|'?d rather not|would prefer not to|"
    r"prefer not to)(?: wish| want| like)?(?: to)? (?:receive|hear|get|be contacted)"
    r"[^.!?,;:|\n]{0,30}?(?:e-?mails?|messages?|communications?|mailings?|from us)",
    r"you(?: are|'re| were) receiving this",
    r"(?:manage|update) (?:your )?(?:e-?mail |subscription |communication )?preferences",
    r"this (?:e-?mail|message) was sent to",
    r"para (?:darse|darte) de baja[,:]?\s*(?:por favor\s+)?(?:haga|haz|d[eé]|pulse|visite|"
    r"responda|conteste|escriba|aqu[ií]|clic)",
    r"para (?:darse|darte) de baja[^.!?,;:|\n]{0,40}https?://",
    r"(?:haga|haz|d[eé]) clic (?:aqu[ií] )?para (?:darse|darte|cancelar|dejar de)",
    r"si (?:ya )?no (?:desea|deseas|quiere|quieres) (?:recibir|seguir recibiendo) (?:m[aá]s )?"
    r"(?:correos|mensajes|e-?mails|comunicaciones|informaci[oó]n)",
    r"(?:responda|responde|conteste|contesta)(?: con)? [\"'“]?(?:stop|alto|baja)[\"'”]?",
    r"(?:usted )?est[aá]s? recibiendo este (?:correo|mensaje)",
)
# A footer sentence ends at a sentence end, and also at a clause break (, ; : |): the
# homeowner may write their own request right after our words ("You're receiving this
# without my consent, remove me"), and what follows the break must reach the guard. A
# footer that runs on past a comma ("..., click here to unsubscribe") is removed as two
# matches, the second starting after the break. A break followed by a link
# ("click here: https://...") is still the footer.
_FOOTER: Final = re.compile(
    r"(?:^|(?<=[.!?,;:|])[ \t]*)[ \t*•|-]*(?:"
    + "|".join(_FOOTER_PHRASES)
    + r")(?:[,;:|]?\s*<?https?://\S+>?|[^.!?,;:|\n])*[.!?]?",
    re.IGNORECASE | re.MULTILINE,
)


def _quote_start(lines: list[str], i: int) -> str | None:
    """The clean-up step that starts at line ``i``, or None if the line is the reply's own."""
    line = lines[i]
    if _ORIGINAL_MESSAGE.match(line) or _RULE_LINE.match(line):
        return "quote_header"
    if _HEADER_FROM.match(line) and any(_HEADER_NEXT.match(n) for n in lines[i + 1 : i + 5]):
        return "quote_header"
    if _ON_PREFIX.match(line):
        # The header may be wrapped; it always carries a date, hence the digit check, which
        # keeps "On second thought... / ... wrote:" prose from being cut.
        for end in range(i + 1, min(i + 4, len(lines) + 1)):
            joined = " ".join(lines[i:end])
            if _ON_WROTE.match(joined) and _DIGIT.search(joined):
                return "quote_header"
    # "Sent from my iPhone" ends a reply only after some of it (or alone): above the
    # text it is a phone's default line the homeowner typed under ("...iPhone / stop").
    if len(line) <= 80 and _MOBILE_FOOTER.match(line):
        above = any(x.strip() for x in lines[:i])
        below = any(x.strip() for x in lines[i + 1 :])
        if above or not below:
            return "mobile_footer"
    if _DISCLAIMER.match(line):
        return "disclaimer"
    return None


def _is_name_block(rest: list[str]) -> bool:
    """True when the lines after a sign-off look like a name/contact block, not more text."""
    content = [line.strip() for line in rest if line.strip()]
    if len(content) > _MAX_SIGNATURE_LINES:
        return False
    if any(len(line) > 80 for line in content):
        return False
    if not content:
        return True
    first = content[0]
    return len(first) <= 40 and len(first.split()) <= 4 and not first.endswith(("?", "!"))


def _signature_start(lines: list[str]) -> int | None:
    for i, line in enumerate(lines):
        if _SIG_DELIMITER.match(line):
            return i
    content = [i for i, line in enumerate(lines) if line.strip()]
    if not content:
        return None
    # A sign-off on the first line is the whole message ("Thanks!"), never a signature; and
    # a name block is short, so only the last few content lines can hold the sign-off
    # (which also keeps this linear on hostile input).
    start = content[0] + 1
    if len(content) > _MAX_SIGNATURE_LINES + 1:
        start = max(start, content[-(_MAX_SIGNATURE_LINES + 1)])
    for i in range(start, len(lines)):
        if _SIGN_OFF.match(lines[i]) and _is_name_block(lines[i + 1 :]):
            return i
    return None


def split_reply(text: str) -> ReplyParts:
    """Split a reply into the homeowner's text, their signature and the removed steps.

    Removed: ``>`` quoted lines; "On ... wrote:" / "El ... escribió:" headers, Outlook
    "-----Original Message-----" and "From:/Sent:" blocks and everything after them;
    "Sent from my iPhone"-style lines and what follows; an earlier message pasted after the
    reply (a greeting line after the reply's own text); legal disclaimers; our own
    unsubscribe footer sentences. The signature (``-- `` delimiter, or a sign-off such as
    "Thanks," followed by a short name block) is returned separately.
    """
    lines = text.splitlines()
    removed: list[str] = []
    kept: list[str] = []
    seen_content = False
    for i, line in enumerate(lines):
        step = _quote_start(lines, i)
        if step is None and seen_content and _SALUTATION.match(line):
            step = "pasted_message"
        if step is not None:
            removed.append(step)
            break
        if _QUOTED_LINE.match(line):
            if "quoted_lines" not in removed:
                removed.append("quoted_lines")
            continue
        kept.append(line)
        seen_content = seen_content or bool(line.strip())

    signature = ""
    sig_at = _signature_start(kept)
    if sig_at is not None:
        signature = "\n".join(kept[sig_at:]).strip()
        kept = kept[:sig_at]
        removed.append("signature")

    body = "\n".join(kept)
    body, n_footer = _FOOTER.subn(" ", body)
    if signature:
        signature, n_sig_footer = _FOOTER.subn(" ", signature)
        n_footer += n_sig_footer
    if n_footer:
        removed.append("footer")
    return ReplyParts(body=body.strip(), signature=signature.strip(), removed=tuple(removed))


def strip_reply(text: str) -> str:
    """The homeowner's own words: the reply without quotes, signature or our footer."""
    return split_reply(text).body


# Accents, curly quotes and odd spaces folded so one ASCII pattern matches "llámeme",
# "llameme" and "don’t". str.translate keeps this at C speed.
_FOLD_TABLE: Final = str.maketrans(
    {
        "á": "a",
        "à": "a",
        "â": "a",
        "ä": "a",
        "ã": "a",
        "é": "e",
        "è": "e",
        "ê": "e",
        "ë": "e",
        "í": "i",
        "ì": "i",
        "î": "i",
        "ï": "i",
        "ó": "o",
        "ò": "o",
        "ô": "o",
        "ö": "o",
        "õ": "o",
        "ú": "u",
        "ù": "u",
        "û": "u",
        "ü": "u",
        "ñ": "n",
        "ç": "c",
        "’": "'",
        "‘": "'",
        "´": "'",
        "`": "'",
        "“": '"',
        "”": '"',
        "¿": " ¿ ",
        "¡": " ¡ ",
        "\u00a0": " ",
    }
)


def fold(text: str) -> str:
    """Lower-case, accent-free, single-spaced form of ``text`` that the rules match against."""
    return " ".join(text.lower().translate(_FOLD_TABLE).split())


# NANP numbers in every common shape ("(602) 555-0147", "602.555.0147", "+1 602 555 0147",
# "1-602-555-0147", "6025550147"), and "+<country> ..." for the rest; ``to_e164`` decides.
_PHONE: Final = re.compile(
    r"(?<![\w+])(?:"
    r"(?:\+?1[\s.-]{0,2})?\(?[2-9]\d{2}\)?[\s.-]{0,2}[2-9]\d{2}[\s.-]{0,2}\d{4}"
    r"|\+[2-9]\d{0,2}(?:[\s.-]{0,2}\(?\d{1,4}\)?){2,6}"
    r")(?!\d)"
)


def find_phone(text: str) -> str | None:
    """The first valid phone number in ``text``, as E.164, or None."""
    for match in _PHONE.finditer(text):
        e164 = to_e164(match.group(), default_region="US")
        if e164 is not None:
            return e164
    return None
