"""SignalWire's webhook signature, against the vectors its SDK publishes."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlencode

import pytest

from equity_connect.security import signatures
from equity_connect.security.signatures import SignatureError, sign_signalwire, verify_signalwire

# signalwire-python tests/unit/security/test_webhook_validator.py, VECTOR_B (Twilio's too).
B_KEY = b"12345"
B_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
B_PARAMS = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Caller", "+14158675309"),
    ("Digits", "1234"),
    ("From", "+14158675309"),
    ("To", "+18005551212"),
]
B_EXPECTED = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
# Same file, VECTOR_A: hex HMAC-SHA1 over url + raw body (JSON / RELAY callbacks).
A_KEY = b"PSKtest1234567890abcdef"
A_URL = "https://example.ngrok.io/webhook"
A_BODY = b'{"event":"call.state","params":{"call_id":"abc-123","state":"answered"}}'
A_EXPECTED = "c3c08c1fefaf9ee198a100d5906765a6f394bf0f"


def _verify(
    key: bytes, header: str, value: str, url: str, body: bytes, params: list[tuple[str, str]]
) -> None:
    verify_signalwire([key], {header: value}, url, body, params)


def test_scheme_b_matches_the_published_vector() -> None:
    assert sign_signalwire(B_KEY, B_URL, B_PARAMS) == B_EXPECTED
    body = urlencode(B_PARAMS).encode()
    for header in signatures.SIGNALWIRE_SIGNATURE_HEADERS:
        _verify(B_KEY, header, B_EXPECTED, B_URL, body, B_PARAMS)


def test_scheme_a_matches_the_published_vector() -> None:
    _verify(A_KEY, "X-SignalWire-Signature", A_EXPECTED, A_URL, A_BODY, [])


@pytest.mark.parametrize(
    ("signed", "received"),
    [
        ("https://mycompany.com:443/myapp.php?foo=1&bar=2", B_URL),
        (B_URL, "https://mycompany.com:443/myapp.php?foo=1&bar=2"),
        ("http://example.com:80/hook", "http://example.com/hook"),
    ],
)
def test_the_default_port_may_be_in_the_signed_url_or_not(signed: str, received: str) -> None:
    sig = sign_signalwire(B_KEY, signed, B_PARAMS)
    _verify(B_KEY, "X-SignalWire-Signature", sig, received, b"", B_PARAMS)


def test_a_non_default_port_is_not_dropped() -> None:
    sig = sign_signalwire(B_KEY, "https://example.com:8443/hook", B_PARAMS)
    with pytest.raises(SignatureError):
        _verify(B_KEY, "X-SignalWire-Signature", sig, "https://example.com/hook", b"", B_PARAMS)


@pytest.mark.parametrize(
    "change",
    ["body", "url", "key", "order_of_repeated"],
)
def test_any_change_is_refused_with_401(change: str) -> None:
    params = list(B_PARAMS)
    url, key = B_URL, B_KEY
    sig = sign_signalwire(key, url, params)
    if change == "body":
        params[2] = ("Digits", "1235")
    elif change == "url":
        url = B_URL.replace("foo=1", "foo=2")
    elif change == "key":
        key = b"54321"
    else:
        params = [("To", "a"), ("To", "b")]
        sig = sign_signalwire(key, url, [("To", "b"), ("To", "a")])
    with pytest.raises(SignatureError) as err:
        _verify(key, "X-SignalWire-Signature", sig, url, b"", params)
    assert err.value.status == 401
    assert err.value.code == "bad_signature"


def test_unsigned_is_401_not_400() -> None:
    with pytest.raises(SignatureError) as err:
        verify_signalwire([B_KEY], {}, B_URL, b"", B_PARAMS)
    assert (err.value.status, err.value.code) == (401, "missing_header")
    with pytest.raises(SignatureError) as err:
        verify_signalwire([B_KEY], {"X-SignalWire-Signature": "  "}, B_URL, b"", B_PARAMS)
    assert err.value.status == 401


def test_no_key_configured_refuses_everything() -> None:
    with pytest.raises(SignatureError) as err:
        verify_signalwire([], {"X-SignalWire-Signature": B_EXPECTED}, B_URL, b"", B_PARAMS)
    assert (err.value.status, err.value.code) == (401, "no_secret_configured")


def test_any_configured_key_verifies_during_a_reset() -> None:
    verify_signalwire(
        [b"new-key", B_KEY], {"X-SignalWire-Signature": B_EXPECTED}, B_URL, b"", B_PARAMS
    )


def test_scheme_b_is_hmac_sha1_base64_of_url_and_sorted_pairs() -> None:
    # The algorithm spelled out independently of the implementation.
    data = B_URL + "".join(k + v for k, v in sorted(B_PARAMS))
    expected = base64.b64encode(hmac.new(B_KEY, data.encode(), hashlib.sha1).digest()).decode()
    assert expected == B_EXPECTED == sign_signalwire(B_KEY, B_URL, list(reversed(B_PARAMS)))
