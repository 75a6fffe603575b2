"""Streaming export of 1,000,000 leads: time and peak RSS against COPY TO of the same rows.

Usage: python bench/export.py [LEADS]  (also runs LEADS/2 to show memory stays flat)
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _db import bench_database

from equity_connect.security.crypto import Keyring, PiiCipher, aad_for

ENC = "bench:" + base64.b64encode(os.urandom(32)).decode()
IDX = base64.b64encode(os.urandom(32)).decode()


def load(url: str, n: int) -> None:
    cipher = PiiCipher(Keyring.from_values(ENC, IDX))
    with psycopg.connect(url) as conn:
        with conn.cursor().copy(
            "copy leads (id, owner_first_name, property_city, property_state, property_zip, "
            "lead_score, email_ciphertext, email_index) from stdin"
        ) as cp:
            for i in range(n):
                lead_id = f"00000000-0000-7000-8000-{i:012d}"
                email = f"owner{i}@example.com"
                cp.write_row(
                    (
                        lead_id,
                        "=SUM(A1)" if i % 50 == 0 else "Ann",
                        "Austin",
                        "TX",
                        "78701",
                        i % 101,
                        cipher.encrypt(email, aad_for("leads", "email", lead_id)),
                        cipher.blind_index("email", email),
                    )
                )
        conn.commit()


def run(n: int) -> None:
    with bench_database() as url:
        load(url, n)
        with psycopg.connect(url) as conn, tempfile.TemporaryFile() as sink:
            t = time.perf_counter()
            with conn.cursor().copy("copy leads to stdout (format csv)") as cp:
                for chunk in cp:
                    sink.write(chunk)
            copy_s = time.perf_counter() - t
        env = {**os.environ, "DATABASE_URL": url, "EC_ENCRYPTION_KEYS": ENC, "EC_INDEX_KEY": IDX}
        exe = Path(sys.executable).with_name("equity-connect")
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            t = time.perf_counter()
            child = subprocess.Popen([str(exe), "export"], env=env, stdout=out, stderr=err)
            _, status, usage = os.wait4(child.pid, 0)
            export_s = time.perf_counter() - t
            size = out.tell()
            if os.waitstatus_to_exitcode(status) != 0:
                err.seek(0)
                raise SystemExit(err.read().decode()[-2000:])
    print(
        f"leads={n:,} copy_to={copy_s:.2f}s export={export_s:.2f}s ratio={export_s / copy_s:.1f}x "
        f"peak_rss={usage.ru_maxrss / 1024:.0f}MB csv_bytes={size:,}"
    )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    run(n // 2)
    run(n)


if __name__ == "__main__":
    main()
