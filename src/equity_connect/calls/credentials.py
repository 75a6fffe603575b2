"""The VAPI credentials our webhook accepts, from the settings.

Two ways to configure them, usable together (a rotation overlaps old and new):

- ``EC_VAPI_CREDENTIALS``: a JSON list of VAPI's own credential settings, with
  VAPI's field names: ``{"type": "bearer", "token", "headerName",
  "bearerPrefixEnabled"}`` (``BearerAuthenticationPlan``) and ``{"type": "hmac",
  "secretKey", "algorithm", "signatureHeader", "timestampHeader", "signaturePrefix",
  "includeTimestamp", "payloadFormat", "messageIdHeader", "signatureEncoding",
  "secretIsBase64"}`` (``HMACAuthenticationPlan``), both from VapiAI/server-sdk-python
  ``src/vapi/types/``. Defaults are VAPI's.
- The older ``EC_VAPI_SECRETS`` (comma-separated) with ``EC_VAPI_AUTH``, now a
  comma-separated list of ``secret`` (``X-Vapi-Secret``), ``bearer`` and ``hmac``:
  each listed type accepts each secret. ``EC_VAPI_BEARER_*`` and ``EC_VAPI_HMAC_*``
  shape those types.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from equity_connect.config import Settings
from equity_connect.security import signatures


class _Plan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BearerCredential(_Plan):
    """VAPI's ``BearerAuthenticationPlan``: the token in a header, "Bearer " optional."""

    type: Literal["bearer"]
    token: str = Field(min_length=1)
    header_name: str = Field(default="Authorization", alias="headerName", min_length=1)
    bearer_prefix_enabled: bool = Field(default=True, alias="bearerPrefixEnabled")

    def credential(self) -> signatures.VapiCredential:
        auth = signatures.VapiTokenSettings(
            header_name=self.header_name, prefix="Bearer " if self.bearer_prefix_enabled else ""
        )
        return signatures.VapiCredential(auth, (self.token.encode(),))


class HmacCredential(_Plan):
    """VAPI's ``HMACAuthenticationPlan``, field by field, with VAPI's defaults."""

    type: Literal["hmac"]
    secret_key: str = Field(alias="secretKey", min_length=1)
    algorithm: Literal["sha256", "sha512", "sha1"] = "sha256"
    signature_header: str = Field(default="x-signature", alias="signatureHeader", min_length=1)
    timestamp_header: str = Field(default="x-timestamp", alias="timestampHeader", min_length=1)
    signature_prefix: str = Field(default="", alias="signaturePrefix")
    include_timestamp: bool = Field(default=True, alias="includeTimestamp")
    payload_format: str = Field(default="{timestamp}.{body}", alias="payloadFormat")
    message_id_header: str = Field(default="", alias="messageIdHeader")
    signature_encoding: Literal["hex", "base64"] = Field(default="hex", alias="signatureEncoding")
    secret_is_base64: bool = Field(default=False, alias="secretIsBase64")

    def credential(self) -> signatures.VapiCredential:
        settings = signatures.VapiHmacSettings(
            algorithm=self.algorithm,
            signature_header=self.signature_header,
            timestamp_header=self.timestamp_header,
            payload_format=_payload_format(self.payload_format, self.include_timestamp),
            signature_encoding=self.signature_encoding,
            signature_prefix=self.signature_prefix,
            include_timestamp=self.include_timestamp,
            message_id_header=self.message_id_header,
        )
        return signatures.VapiCredential(settings, (_key(self.secret_key, self.secret_is_base64),))


Credential = Annotated[BearerCredential | HmacCredential, Field(discriminator="type")]
_CREDENTIALS: TypeAdapter[list[Credential]] = TypeAdapter(list[Credential])


def _payload_format(configured: str, include_timestamp: bool) -> str:
    # VAPI's default format signs "{timestamp}.{body}"; with includeTimestamp off
    # and the format left at that default we take it that only the body is signed
    # (VAPI does not say; docs/providers.md (VAPI) marks this UNVERIFIED).
    if not include_timestamp and configured == "{timestamp}.{body}":
        return "{body}"
    return configured


def _key(secret: str, is_base64: bool) -> bytes:
    if not is_base64:
        return secret.encode()
    try:
        return base64.b64decode(secret + "=" * (-len(secret) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError("an HMAC secretKey with secretIsBase64 is not valid base64") from exc


def parse_credentials(raw: str) -> list[signatures.VapiCredential]:
    """``EC_VAPI_CREDENTIALS`` as credentials; ``ValueError`` naming what is wrong.

    The message never contains the secrets (pydantic's error text would echo them).
    """
    try:
        data: Any = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"EC_VAPI_CREDENTIALS is not JSON: {exc.msg}") from exc
    try:
        plans = _CREDENTIALS.validate_python(data)
    except ValidationError as exc:
        where = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_input=False)
        )
        raise ValueError(
            f"EC_VAPI_CREDENTIALS is not a list of VAPI credentials ({where})"
        ) from None
    out = []
    for n, plan in enumerate(plans):
        try:
            out.append(plan.credential())
        except ValueError as exc:
            raise ValueError(f"EC_VAPI_CREDENTIALS entry {n}: {exc}") from None
    return out


_LEGACY_TYPES = frozenset({"secret", "bearer", "hmac"})


def _legacy(settings: Settings) -> list[signatures.VapiCredential]:
    # VAPI sends (or keys its HMAC with) the secret as typed; secretIsBase64 is its own setting.
    secrets = tuple(signatures.parse_plain_secrets(settings.vapi_secrets or ""))
    if not secrets:
        return []
    kinds = [k.strip().lower() for k in settings.vapi_auth.split(",") if k.strip()]
    unknown = sorted(set(kinds) - _LEGACY_TYPES)
    if unknown or not kinds:
        raise ValueError(
            f"EC_VAPI_AUTH must list secret, bearer and/or hmac, not {settings.vapi_auth!r}"
        )
    out = []
    for kind in dict.fromkeys(kinds):
        auth: signatures.VapiAuth
        if kind == "secret":
            auth = signatures.VAPI_LEGACY_SECRET
        elif kind == "bearer":
            auth = signatures.VapiTokenSettings(
                header_name=settings.vapi_bearer_header,
                prefix="Bearer " if settings.vapi_bearer_prefix_enabled else "",
            )
        else:
            hmac_keys = secrets
            if settings.vapi_hmac_secret_is_base64:
                hmac_keys = tuple(_key(s.decode(), True) for s in secrets)
            auth = signatures.VapiHmacSettings(
                algorithm=_algorithm(settings.vapi_hmac_algorithm),
                signature_header=settings.vapi_hmac_signature_header,
                timestamp_header=settings.vapi_hmac_timestamp_header,
                payload_format=_payload_format(
                    settings.vapi_hmac_payload_format, settings.vapi_hmac_include_timestamp
                ),
                signature_encoding=_encoding(settings.vapi_hmac_signature_encoding),
                signature_prefix=settings.vapi_hmac_prefix,
                include_timestamp=settings.vapi_hmac_include_timestamp,
                message_id_header=settings.vapi_hmac_message_id_header,
            )
            out.append(signatures.VapiCredential(auth, hmac_keys))
            continue
        out.append(signatures.VapiCredential(auth, secrets))
    return out


def _algorithm(value: str) -> Literal["sha256", "sha512", "sha1"]:
    if value in ("sha256", "sha512", "sha1"):
        return cast(Literal["sha256", "sha512", "sha1"], value)
    raise ValueError(f"EC_VAPI_HMAC_ALGORITHM must be sha256, sha512 or sha1, not {value!r}")


def _encoding(value: str) -> Literal["hex", "base64"]:
    if value in ("hex", "base64"):
        return cast(Literal["hex", "base64"], value)
    raise ValueError(f"EC_VAPI_HMAC_SIGNATURE_ENCODING must be hex or base64, not {value!r}")


def vapi_credentials(settings: Settings) -> list[signatures.VapiCredential]:
    """Every credential the settings configure: the older variables' first, then the list."""
    listed = parse_credentials(settings.vapi_credentials) if settings.vapi_credentials else []
    return _legacy(settings) + listed
