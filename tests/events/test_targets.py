"""The SSRF guard: which endpoint URLs are accepted, and what a connection may reach.

No test here connects anywhere but loopback: where an internal address is
involved, the socket backend is replaced by a recorder, so a guard that let
the address through would be seen (and fail the test) without any traffic.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import httpcore
import pytest
from httpcore._backends.sync import SyncBackend
from hypothesis import given
from hypothesis import strategies as st
from psycopg_pool import ConnectionPool

from equity_connect.db.pool import Conn
from equity_connect.events import sender
from equity_connect.events.schemas import EventType
from equity_connect.events.targets import GuardedBackend, TargetPolicy, TargetRefused, check_url
from equity_connect.security.crypto import Keyring
from tests.events.helpers import FAST, add_dead_letter, rows, subscribe

STRICT = TargetPolicy()


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/ec",
        "https://8.8.8.8/hook",
        "http://127.0.0.1:5678/webhook/abc",
        "http://localhost:5678/webhook",
        "http://[::1]:8080/x",
    ],
)
def test_accepted(url: str) -> None:
    assert check_url(url, STRICT, resolve=False) == url


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://hooks.example.com/ec", "must be https"),
        ("ftp://hooks.example.com/ec", "https://"),
        ("hooks.example.com/ec", "https://"),
        ("https://user:pw@hooks.example.com/ec", "credentials"),
        ("https://10.0.0.5/x", "internal"),
        ("https://172.16.3.4/x", "internal"),
        ("https://192.168.1.10/x", "internal"),
        ("https://169.254.169.254/latest/meta-data", "internal"),
        ("https://100.64.0.1/x", "internal"),
        ("https://[fd00::1]/x", "internal"),
        ("https://[fe80::1]/x", "internal"),
        ("https://[::ffff:10.0.0.1]/x", "internal"),
        ("https://0.0.0.0/x", "not a unicast"),
        ("https://224.0.0.1/x", "not a unicast"),
        ("https://host:99999/x", "not a valid URL"),
    ],
)
def test_refused(url: str, says: str) -> None:
    with pytest.raises(TargetRefused, match=says):
        check_url(url, STRICT, resolve=False)


def test_settings_widen_the_rules() -> None:
    check_url("http://hooks.example.com/ec", TargetPolicy(allow_http=True), resolve=False)
    check_url("https://10.0.0.5/x", TargetPolicy(allow_private=True), resolve=False)
    with pytest.raises(TargetRefused):  # multicast is never a host, whatever the setting
        check_url("https://224.0.0.1/x", TargetPolicy(allow_private=True), resolve=False)


_INTERNAL = [
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "100.64.0.0/10",
        "fc00::/7",
        "fe80::/10",
    )
]


@given(st.sampled_from(_INTERNAL), st.integers(min_value=0))
def test_every_internal_address_is_refused(network: Any, offset: int) -> None:
    ip = network[offset % network.num_addresses]
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    with pytest.raises(TargetRefused):
        check_url(f"https://{host}/hook", STRICT, resolve=False)


@pytest.fixture
def recorded_connects(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Connections the guarded backend passes on, recorded instead of made."""
    made: list[str] = []

    def record(self: SyncBackend, host: str, port: int, *args: object, **kw: object) -> Any:
        made.append(host)
        raise httpcore.ConnectError("recorded, not connected")

    monkeypatch.setattr(SyncBackend, "connect_tcp", record)
    return made


def _resolving_to(monkeypatch: pytest.MonkeyPatch, name: str, address: str) -> None:
    real = socket.getaddrinfo

    def fake(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == name:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            return [(family, socket.SOCK_STREAM, 6, "", (address, 443))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)


def test_a_name_resolving_inside_is_refused_at_connect(
    monkeypatch: pytest.MonkeyPatch, recorded_connects: list[str]
) -> None:
    # Accepted when subscribed (a name), it resolves to the metadata service now.
    _resolving_to(monkeypatch, "rebind.example.com", "169.254.169.254")
    backend = GuardedBackend(STRICT)
    with pytest.raises(httpcore.ConnectError, match="internal"):
        backend.connect_tcp("rebind.example.com", 443)
    assert recorded_connects == []
    # The same name resolving to a public address is connected to, by that address.
    _resolving_to(monkeypatch, "rebind.example.com", "8.8.4.4")
    with pytest.raises(httpcore.ConnectError, match="recorded"):
        backend.connect_tcp("rebind.example.com", 443)
    assert recorded_connects == ["8.8.4.4"]


def test_the_sender_never_reaches_an_internal_address(
    pool: ConnectionPool[Conn],
    keyring: Keyring,
    monkeypatch: pytest.MonkeyPatch,
    recorded_connects: list[str],
) -> None:
    subscribe(pool, keyring, "https://rebind.example.com/hook", [EventType.DLQ_ADDED])
    add_dead_letter(pool)
    _resolving_to(monkeypatch, "rebind.example.com", "10.1.2.3")
    [d] = rows(pool, "select id from event_deliveries")
    assert sender.deliver(pool, FAST, keyring, d["id"]) == "retry"
    assert recorded_connects == []
    [log] = rows(pool, "select outcome, error from event_delivery_attempts")
    assert log == {"outcome": "retry", "error": "no response (ConnectError)"}
