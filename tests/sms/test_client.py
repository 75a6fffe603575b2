"""The SignalWire client against a local fake speaking the documented Compatibility API."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from equity_connect.outbound.retry import (
    MalformedResponse,
    ProviderAuthError,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
)
from equity_connect.sms.client import SendUncertain, SignalWireClient
from tests.sms.fake_signalwire import PROJECT, TOKEN, FakeSignalWire, fake_signalwire


@pytest.fixture
def fake() -> Iterator[FakeSignalWire]:
    with fake_signalwire() as f:
        yield f


def client(fake: FakeSignalWire, *, token: str = TOKEN, timeout: float = 5) -> SignalWireClient:
    return SignalWireClient(
        PROJECT, token, space_url=fake.url, from_number="+15055550100", timeout=timeout
    )


def test_request_is_the_documented_create_message(fake: FakeSignalWire) -> None:
    with client(fake) as c:
        sent = c.send_text("+12135550147", "Hello & welcome: 100% free?")
    assert (sent.sid, sent.status) == ("0a059168-ead0-41af-9d1f-343dae832527", "queued")
    (req,) = fake.requests
    assert req.method == "POST"
    assert req.path == f"/api/laml/2010-04-01/Accounts/{PROJECT}/Messages.json"
    assert req.headers["content-type"] == "application/x-www-form-urlencoded"
    assert (
        req.headers["authorization"]
        == "Basic " + base64.b64encode(f"{PROJECT}:{TOKEN}".encode()).decode()
    )
    assert req.form == [
        ("To", "+12135550147"),
        ("From", "+15055550100"),
        ("Body", "Hello & welcome: 100% free?"),
    ]


def test_a_space_name_without_scheme_gets_https() -> None:
    c = SignalWireClient(PROJECT, TOKEN, space_url="example.signalwire.com", from_number="+1505")
    assert (
        c.url
        == f"https://example.signalwire.com/api/laml/2010-04-01/Accounts/{PROJECT}/Messages.json"
    )
    assert TOKEN not in repr(c)
    c.close()


def test_bad_credentials_are_an_auth_error_not_retried(fake: FakeSignalWire) -> None:
    with client(fake, token="wrong") as c, pytest.raises(ProviderAuthError) as err:
        c.send_text("+12135550147", "x")
    assert not err.value.retryable
    assert "wrong" not in str(err.value) and TOKEN not in repr(err.value)


@pytest.mark.parametrize(
    ("status", "headers", "error", "retryable"),
    [
        (429, {"Retry-After": "7"}, RateLimited, True),
        (503, {}, ProviderUnavailable, True),
        (400, {}, ProviderRejected, False),
    ],
)
def test_error_statuses_are_typed(
    fake: FakeSignalWire,
    status: int,
    headers: dict[str, str],
    error: type[Exception],
    retryable: bool,
) -> None:
    fake.script.append((status, headers, 0.0))
    with client(fake) as c, pytest.raises(error) as err:  # type: ignore[misc]
        c.send_text("+12135550147", "x")
    assert err.value.retryable is retryable
    if status == 429:
        assert err.value.retry_after == 7.0


def test_no_answer_after_sending_is_uncertain_and_not_retried(fake: FakeSignalWire) -> None:
    fake.script.append((200, {}, 1.5))
    with client(fake, timeout=0.3) as c, pytest.raises(SendUncertain) as err:
        c.send_text("+12135550147", "x")
    assert not err.value.retryable
    assert len(fake.requests) == 1  # it did reach the provider


def test_refused_connection_is_retryable_and_not_uncertain() -> None:
    c = SignalWireClient(PROJECT, TOKEN, space_url="http://127.0.0.1:9", from_number="+1505")
    with pytest.raises(ProviderUnavailable) as err:
        c.send_text("+12135550147", "x")
    assert err.value.retryable and not isinstance(err.value, SendUncertain)
    c.close()


def test_an_answer_without_sid_is_malformed(fake: FakeSignalWire) -> None:
    fake.next_body = b'{"status": "queued"}'
    with client(fake) as c, pytest.raises(MalformedResponse, match="no sid"):
        c.send_text("+12135550147", "x")
    fake.next_body = b"<html>maintenance</html>"
    with client(fake) as c, pytest.raises(MalformedResponse, match="HTML"):
        c.send_text("+12135550147", "x")
