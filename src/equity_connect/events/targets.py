"""Where events may be sent: the SSRF guard for endpoint URLs.

An endpoint URL is typed by an operator but the request is made from inside
our network, so a URL naming an internal address (the cloud metadata service
at 169.254.169.254, a database on 10.0.0.5) would turn the sender into a
proxy into that network. Rules:

* https, or http to loopback only (a local n8n), unless ``EC_EVENTS_ALLOW_HTTP``;
* no private, link-local, shared (CGNAT), multicast, reserved or unspecified
  address, unless ``EC_EVENTS_ALLOW_PRIVATE_TARGETS``. Loopback is allowed.

The address is checked when the endpoint is added and again when each
connection is made (:class:`GuardedBackend` resolves the name itself and
connects only to an address it checked), so a name that later resolves
elsewhere (DNS rebinding) is still refused.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpcore
import httpx
from httpcore._backends.base import SOCKET_OPTION
from httpcore._backends.sync import SyncBackend

from equity_connect.errors import DomainError

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


@dataclass(frozen=True)
class TargetPolicy:
    """What the settings allow beyond https to public addresses."""

    allow_http: bool = False
    allow_private: bool = False


class TargetRefused(DomainError):
    """An endpoint URL or address that events must not be sent to."""

    def __init__(self, reason: str) -> None:
        super().__init__(422, "bad_endpoint_url", reason)


def address_refusal(ip: IpAddress, policy: TargetPolicy) -> str | None:
    """Why events may not go to ``ip`` (one sentence), or None when they may."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return None
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return f"address {ip} is not a unicast host address"
    if policy.allow_private:
        return None
    internal = (
        ip.is_private
        or ip.is_link_local
        or (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT)
    )
    if internal or not ip.is_global:
        return (
            f"address {ip} is internal (private, link-local or shared range): events go to "
            "public addresses or loopback only; "
            "set EC_EVENTS_ALLOW_PRIVATE_TARGETS=true to allow it"
        )
    return None


def _resolve(host: str, port: int) -> list[IpAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetRefused(f"host {host!r} does not resolve: check the URL") from exc
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def checked_addresses(host: str, port: int, policy: TargetPolicy) -> list[IpAddress]:
    """The addresses ``host`` resolves to, every one of them allowed; else TargetRefused."""
    addresses = _resolve(host, port)
    for ip in addresses:
        refusal = address_refusal(ip, policy)
        if refusal is not None:
            raise TargetRefused(f"{host} resolves to {refusal}")
    return addresses


def check_url(url: str, policy: TargetPolicy, *, resolve: bool = True) -> str:
    """The URL, if events may be sent to it; else TargetRefused with what to fix."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"endpoint URL is not a valid URL ({exc})") from exc
    host = parts.hostname
    if parts.scheme not in ("https", "http") or not host:
        raise TargetRefused("endpoint URL must be an absolute https:// URL")
    if parts.username or parts.password:
        raise TargetRefused("endpoint URL must not carry credentials: they would be logged")
    if parts.fragment:
        raise TargetRefused("endpoint URL must not have a #fragment")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        literal: IpAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    loopback = host == "localhost" or (literal is not None and literal.is_loopback)
    if parts.scheme == "http" and not (loopback or policy.allow_http):
        raise TargetRefused(
            "endpoint URL must be https (http only to 127.0.0.1/localhost, "
            "unless EC_EVENTS_ALLOW_HTTP=true)"
        )
    if literal is not None:
        refusal = address_refusal(literal, policy)
        if refusal is not None:
            raise TargetRefused(refusal)
    elif resolve:
        checked_addresses(host, port, policy)
    return url


class GuardedBackend(SyncBackend):
    """httpcore's socket backend, connecting only to addresses the policy allows."""

    def __init__(self, policy: TargetPolicy) -> None:
        self.policy = policy

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        """Resolve ``host`` once, refuse a forbidden address, connect to the checked one."""
        try:
            addresses = checked_addresses(host, port, self.policy)
        except TargetRefused as exc:
            raise httpcore.ConnectError(exc.detail) from None
        last: Exception | None = None
        for ip in addresses:
            try:
                return super().connect_tcp(str(ip), port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                last = exc
        raise last or httpcore.ConnectError(f"no address for {host}")


def guarded_client(policy: TargetPolicy, timeout: float) -> httpx.Client:
    """An httpx client for event deliveries: guarded connects, no redirects, no proxies."""
    transport = httpx.HTTPTransport(retries=0)
    # httpx exposes no resolver hook; the pool's network backend is where
    # connections are made, so that is where the address is checked.
    transport._pool._network_backend = GuardedBackend(policy)
    return httpx.Client(
        transport=transport, timeout=timeout, follow_redirects=False, trust_env=False
    )
