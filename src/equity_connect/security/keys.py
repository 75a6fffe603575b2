"""Where PII keys come from: the environment, files, AWS KMS or Vault, never the database."""

from __future__ import annotations

import os
from pathlib import Path

from equity_connect.config import Settings
from equity_connect.security.crypto import KeyConfigError, Keyring, generate_key


def load_keyring(settings: Settings) -> Keyring:
    """The configured keyring; raises ``KeyConfigError`` with the missing variable's name."""
    remote = settings.kms_provider in {"aws", "vault"}
    keyring = Keyring.from_sources(
        encryption_keys=settings.encryption_keys,
        encryption_keys_file=settings.encryption_keys_file,
        index_key=settings.index_key,
        index_key_file=settings.index_key_file,
        encryption_keys_optional=remote,
    )
    if not remote:
        return keyring
    if settings.kms_provider == "vault":
        return _with_vault(keyring, settings)
    if not settings.aws_kms_key_id:
        raise KeyConfigError("EC_KMS_PROVIDER=aws needs EC_AWS_KMS_KEY_ID (a key id, ARN or alias)")
    # Imported here: boto3 takes a while to import and only KMS deployments need it.
    from equity_connect.security.aws_kms import AwsKmsKeks  # noqa: PLC0415

    kms = AwsKmsKeks(
        kid=settings.aws_kms_kid,
        key_id=settings.aws_kms_key_id,
        region=settings.aws_region,
        endpoint_url=settings.aws_kms_endpoint_url,
        cache_max_keys=settings.kms_cache_max_keys,
        cache_ttl_seconds=settings.kms_cache_ttl_seconds,
    )
    return keyring.with_kms(kms, settings.aws_kms_kid)


def _with_vault(keyring: Keyring, settings: Settings) -> Keyring:
    from equity_connect.security.vault_transit import VaultTransitKeks  # noqa: PLC0415

    if not settings.vault_addr:
        raise KeyConfigError("EC_KMS_PROVIDER=vault needs EC_VAULT_ADDR (Vault's URL)")
    if not settings.vault_transit_key:
        raise KeyConfigError("EC_KMS_PROVIDER=vault needs EC_VAULT_TRANSIT_KEY (a transit key)")
    token = settings.vault_token
    if settings.vault_token_file is not None:
        try:
            token = settings.vault_token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise KeyConfigError(
                f"EC_VAULT_TOKEN_FILE cannot be read ({exc.strerror}): check the path"
            ) from None
    if not token:
        raise KeyConfigError("EC_KMS_PROVIDER=vault needs EC_VAULT_TOKEN or EC_VAULT_TOKEN_FILE")
    kms = VaultTransitKeks(
        kid=settings.vault_kid,
        addr=settings.vault_addr,
        token=token,
        key_name=settings.vault_transit_key,
        mount=settings.vault_transit_mount,
        namespace=settings.vault_namespace,
        cache_max_keys=settings.kms_cache_max_keys,
        cache_ttl_seconds=settings.kms_cache_ttl_seconds,
    )
    return keyring.with_kms(kms, settings.vault_kid)


def ensure_dev_keys(data_dir: Path) -> tuple[Path, Path]:
    """Create local development key files under ``data_dir/keys`` once, and return them.

    For the demo only: a real deployment injects keys from its secret store.
    The files are created owner-read-only, and existing ones are never
    replaced, since that would make every stored ciphertext unreadable.
    """
    folder = data_dir / "keys"
    folder.mkdir(parents=True, exist_ok=True)
    enc = folder / "encryption_keys"
    idx = folder / "index_key"
    for path, content in ((enc, f"dev1:{generate_key()}"), (idx, generate_key())):
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(content + "\n")
    return enc, idx
