"""Standard Webhooks signing of one delivery.

The scheme: ``webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``
keyed with the base64-decoded ``whsec_`` secret. Signing uses our own
``security/signatures.py`` (``sign_standard``), not the ``standardwebhooks``
package: that helper already implements the scheme over the exact body bytes
we send (the package's ``sign`` takes a ``str`` and a ``datetime``), keeps a
dev-only package out of the runtime, and the tests verify every delivery with
the package's own ``Webhook.verify``, so the two cannot drift apart unseen.
"""

from __future__ import annotations

import base64
import secrets

from equity_connect.security.signatures import parse_secret, sign_standard

SECRET_PREFIX = "whsec_"  # noqa: S105 - the scheme's prefix, not a secret
_SECRET_BYTES = 32  # 256-bit HMAC key (Standard Webhooks asks for 24 to 64 bytes)


def generate_secret() -> str:
    """A new endpoint secret, ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode("ascii")


def signed_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body`` sent at ``timestamp`` (Unix s)."""
    signature = sign_standard(parse_secret(secret), msg_id, timestamp, body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }
