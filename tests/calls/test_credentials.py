"""VAPI credential settings parsed with VAPI's field names and defaults."""

from __future__ import annotations

import base64
import hmac
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from equity_connect.calls.credentials import parse_credentials, vapi_credentials
from equity_connect.config import Settings
from equity_connect.security import signatures
from tests.calls.vapi_fixtures import FIXTURES


def test_the_rotation_fixture_parses_field_by_field() -> None:
    old, new, signed = parse_credentials((FIXTURES / "credentials_rotation.json").read_text())
    assert old == signatures.VapiCredential(
        signatures.VapiTokenSettings(header_name="X-Vapi-Secret", prefix=""),
        (b"old-inline-secret",),
    )
    assert new.auth == signatures.VapiTokenSettings(header_name="Authorization", prefix="Bearer ")
    assert signed.secrets == (b"signing-key-for-tests-only-32-bytes",)  # secretIsBase64
    assert signed.auth == signatures.VapiHmacSettings(
        algorithm="sha512",
        signature_header="x-vapi-signature",
        timestamp_header="x-vapi-timestamp",
        signature_prefix="sha512=",
        signature_encoding="base64",
    )


def test_vapis_defaults_apply_to_omitted_fields() -> None:
    bearer, mac = parse_credentials(
        '[{"type": "bearer", "token": "t"}, {"type": "hmac", "secretKey": "k"}]'
    )
    assert bearer.auth == signatures.VAPI_BEARER
    assert mac.auth == signatures.VapiHmacSettings()  # x-signature, x-timestamp, hex, sha256
    assert mac.secrets == (b"k",)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("not json", "not JSON"),
        ('{"type": "bearer", "token": "t"}', "list"),
        ('[{"type": "oauth2", "token": "t"}]', "type"),
        ('[{"type": "bearer", "token": ""}]', "token"),
        ('[{"type": "hmac", "secretKey": "k", "signatureEncoding": "hex64"}]', "signatureEncoding"),
        ('[{"type": "hmac", "secretKey": "k", "payloadFormat": "{timestamp}"}]', "{body}"),
        ('[{"type": "hmac", "secretKey": "not base64!", "secretIsBase64": true}]', "base64"),
    ],
)
def test_a_bad_credential_is_a_clear_error(raw: str, says: str) -> None:
    with pytest.raises(ValueError, match="EC_VAPI_CREDENTIALS") as err:
        parse_credentials(raw)
    assert says in str(err.value)


def test_the_older_variables_still_give_one_credential_per_type() -> None:
    s = Settings(vapi_secrets="a,b", vapi_auth="secret, hmac")
    legacy, mac = vapi_credentials(s)
    assert legacy == signatures.VapiCredential(signatures.VAPI_LEGACY_SECRET, (b"a", b"b"))
    assert isinstance(mac.auth, signatures.VapiHmacSettings) and mac.secrets == (b"a", b"b")
    assert vapi_credentials(Settings(vapi_secrets="a")) == [legacy.__class__(legacy.auth, (b"a",))]
    assert vapi_credentials(Settings()) == []
    with pytest.raises(ValueError, match="EC_VAPI_AUTH"):
        vapi_credentials(Settings(vapi_secrets="a", vapi_auth="hmac,basic"))


@settings(max_examples=60, deadline=None)
@given(
    algorithm=st.sampled_from(["sha256", "sha512", "sha1"]),
    encoding=st.sampled_from(["hex", "base64"]),
    prefix=st.sampled_from(["", "sha256=", "v1,"]),
    include_timestamp=st.booleans(),
    key=st.binary(min_size=1, max_size=64),
    as_base64=st.booleans(),
    content=st.binary(max_size=200),
)
def test_any_hmac_credential_verifies_what_vapi_would_sign(
    algorithm: str,
    encoding: str,
    prefix: str,
    include_timestamp: bool,
    key: bytes,
    as_base64: bool,
    content: bytes,
) -> None:
    secret = base64.b64encode(key).decode() if as_base64 else key.hex()
    hmac_key = key if as_base64 else key.hex().encode()
    (credential,) = parse_credentials(
        json.dumps(
            [
                {
                    "type": "hmac",
                    "secretKey": secret,
                    "secretIsBase64": as_base64,
                    "algorithm": algorithm,
                    "signatureEncoding": encoding,
                    "signaturePrefix": prefix,
                    "includeTimestamp": include_timestamp,
                }
            ]
        )
    )
    now = 1_764_583_200
    ts = str(now)
    signed = (ts.encode() + b"." + content) if include_timestamp else content
    digest = hmac.new(hmac_key, signed, algorithm).digest()
    value = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()
    headers = {"x-signature": prefix + value}
    if include_timestamp:
        headers["x-timestamp"] = ts
    signatures.verify_vapi_credentials([credential], headers, content, now=now)
    with pytest.raises(signatures.SignatureError) as err:
        signatures.verify_vapi_credentials([credential], headers, content + b"!", now=now)
    assert err.value.status == 401
