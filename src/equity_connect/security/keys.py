"""Where PII keys come from: the environment or files, never the database."""

from __future__ import annotations

import os
from pathlib import Path

from equity_connect.config import Settings
from equity_connect.security.crypto import Keyring, generate_key


def load_keyring(settings: Settings) -> Keyring:
    """The configured keyring; raises ``KeyConfigError`` with the missing variable's name."""
    return Keyring.from_sources(
        encryption_keys=settings.encryption_keys,
        encryption_keys_file=settings.encryption_keys_file,
        index_key=settings.index_key,
        index_key_file=settings.index_key_file,
    )


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
