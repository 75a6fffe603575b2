"""KMS benchmark: an ingest with AWS KMS keys against the same ingest with env keys.

Usage: python bench/kms.py [ROWS] (default 100,000).

Both ingests run the real ``equity-connect ingest`` as a subprocess (with its
staging worker processes), each into its own throwaway database on the same
PostgreSQL. The KMS one talks to moto's KMS server on loopback, started here,
which counts every KMS request it answers, from any process. Then every
stored e-mail is read back through a fresh KMS keyring (a new process's empty
cache). Prints the KMS calls of each phase and the time ratio KMS / env keys.
A local KMS answers in well under a millisecond, so the ratio shows what the
envelope costs us, not AWS's network latency (a few dozen calls at ~10 ms).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the local KMS server lives with the test fixtures
from _db import bench_database  # noqa: E402
from tests.fixtures.kms import REGION, LocalKms, local_kms  # noqa: E402

import ingest as ingest_bench  # noqa: E402
from equity_connect.security.aws_kms import AwsKmsKeks  # noqa: E402
from equity_connect.security.crypto import Keyring, PiiCipher, aad_for  # noqa: E402


def key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def ingest(url: str, path: Path, extra: dict[str, str]) -> tuple[float, dict[str, object]]:
    env = {**os.environ, "DATABASE_URL": url, **extra}
    exe = Path(sys.executable).with_name("equity-connect")
    started = time.perf_counter()
    done = subprocess.run(
        [str(exe), "ingest", str(path), "--json"], env=env, capture_output=True, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"ingest failed: {done.stderr.decode()[-2000:]}")
    report: dict[str, object] = json.loads(done.stdout)
    return seconds, report


def read_back(url: str, kms: LocalKms, index_key: str) -> tuple[int, float]:
    provider = AwsKmsKeks(
        kid="kms1", key_id=kms.key_id, region=REGION, endpoint_url=kms.endpoint_url
    )
    cipher = PiiCipher(
        Keyring.from_values("", index_key, keys_optional=True).with_kms(provider, "kms1")
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
    with local_kms() as kms:
        with bench_database() as url:
            env_s, env_report = ingest(
                url, path, {"EC_ENCRYPTION_KEYS": f"bench:{key()}", "EC_INDEX_KEY": index_key}
            )
        with bench_database() as url:
            before = kms.server.data_key_calls()
            kms_s, kms_report = ingest(
                url,
                path,
                {
                    "EC_KMS_PROVIDER": "aws",
                    "EC_AWS_KMS_KEY_ID": kms.key_id,
                    "EC_AWS_REGION": REGION,
                    "EC_AWS_KMS_ENDPOINT_URL": kms.endpoint_url,
                    "EC_INDEX_KEY": index_key,
                },
            )
            ingest_calls = dict(kms.server.calls)
            written = kms.server.data_key_calls() - before
            before = kms.server.data_key_calls()
            read, read_s = read_back(url, kms, index_key)
            read_calls = kms.server.data_key_calls() - before
    assert env_report["inserted"] == kms_report["inserted"], (env_report, kms_report)
    print(f"rows={rows:,} inserted={kms_report['inserted']:,}")
    print(f"  env keys: ingest {env_s:.2f}s, 0 KMS calls")
    print(
        f"  aws kms : ingest {kms_s:.2f}s, {written} KMS calls "
        f"({', '.join(f'{k}={v}' for k, v in sorted(ingest_calls.items()) if k != 'CreateKey')})"
    )
    print(f"  ratio kms/env = {kms_s / env_s:.2f}x")
    print(
        f"  read back {read:,} e-mails with an empty cache: {read_s:.2f}s, {read_calls} KMS calls"
    )


if __name__ == "__main__":
    main()
