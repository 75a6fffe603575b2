"""Key rotation over 100,000 leads: re-wrap time against reading the same ciphertexts.

Usage: python bench/rotation.py [LEADS]
"""

from __future__ import annotations

import base64
import os
import sys
import time
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _db import bench_database

from equity_connect.config import Settings
from equity_connect.db.pool import open_pool
from equity_connect.keys.reindex import reindex
from equity_connect.keys.rotation import key_usage, rotate
from equity_connect.security.crypto import Keyring, PiiCipher, aad_for


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    old, new, idx = (base64.b64encode(os.urandom(32)).decode() for _ in range(3))
    before = PiiCipher(Keyring.from_values(f"old:{old}", idx))
    after = PiiCipher(Keyring.from_values(f"new:{new},old:{old}", idx))
    with bench_database() as url:
        with psycopg.connect(url) as conn:
            with conn.cursor().copy(
                "copy leads (id, email_ciphertext, email_index) from stdin"
            ) as cp:
                for i in range(n):
                    lead_id = f"00000000-0000-7000-8000-{i:012d}"
                    email = f"owner{i}@example.com"
                    cp.write_row(
                        (
                            lead_id,
                            before.encrypt(email, aad_for("leads", "email", lead_id)),
                            before.blind_index("email", email),
                        )
                    )
            conn.commit()
            t = time.perf_counter()
            conn.execute("select id, email_ciphertext from leads").fetchall()
            read_s = time.perf_counter() - t
        with open_pool(Settings(pool_max_size=2), conninfo=url) as pool:
            t = time.perf_counter()
            done = rotate(pool, after, batch_size=5000)
            rotate_s = time.perf_counter() - t
            with pool.connection() as conn:
                usage = key_usage(conn)
                sample = conn.execute(
                    "select id, email_ciphertext from leads limit 1000"
                ).fetchall()
        new_only = PiiCipher(Keyring.from_values(f"new:{new}", idx))
        for r in sample:
            new_only.decrypt(r["email_ciphertext"], aad_for("leads", "email", r["id"]))
        new_index = PiiCipher(
            Keyring.from_values(f"new:{new}", base64.b64encode(os.urandom(32)).decode())
        )
        with psycopg.connect(url, row_factory=dict_row) as conn:
            t = time.perf_counter()
            reindexed = reindex(conn, new_index)  # type: ignore[arg-type]
            conn.commit()
            reindex_s = time.perf_counter() - t
    print(
        f"leads={n:,} rewrapped={done:,} rotate={rotate_s:.2f}s read_baseline={read_s:.2f}s "
        f"ratio={rotate_s / read_s:.1f}x usage_after={usage}"
    )
    print(
        f"index_key_reindex={reindex_s:.2f}s ({reindex_s / read_s:.1f}x the read) rows={reindexed}"
    )


if __name__ == "__main__":
    main()
