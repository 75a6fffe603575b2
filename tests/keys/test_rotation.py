"""Key rotation: re-wrap under the new key, resumable, then the old key is removable."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from psycopg_pool import ConnectionPool

from equity_connect.config import Settings
from equity_connect.db.pool import Conn, connect, open_pool
from equity_connect.keys.rotation import key_usage, rotate
from equity_connect.security.crypto import (
    DecryptionError,
    Keyring,
    PiiCipher,
    aad_for,
    generate_key,
)

OLD, NEW, INDEX = generate_key(), generate_key(), generate_key()


@pytest.fixture
def pool(fresh_database_url: str) -> Iterator[ConnectionPool[Conn]]:
    p = open_pool(Settings(pool_max_size=4), conninfo=fresh_database_url)
    yield p
    p.close()


def test_rotation_rewraps_resumes_and_frees_the_old_key(
    pool: ConnectionPool[Conn], fresh_database_url: str
) -> None:
    old = PiiCipher(Keyring.from_values(f"old:{OLD}", INDEX))
    with connect(fresh_database_url) as conn:
        conn.execute(
            "insert into leads (id, email_ciphertext, email_index) "
            "select gen_random_uuid(), null, null from generate_series(1, 3000)"
        )
        ids = [r["id"] for r in conn.execute("select id from leads")]
        with conn.cursor() as cur:
            cur.executemany(
                "update leads set email_ciphertext = %s, email_index = %s where id = %s",
                [
                    (
                        old.encrypt(f"owner{n}@example.com", aad_for("leads", "email", i)),
                        old.blind_index("email", f"owner{n}@example.com"),
                        i,
                    )
                    for n, i in enumerate(ids)
                ],
            )
        conn.commit()
        assert key_usage(conn) == {"old": 3000}

    both = PiiCipher(Keyring.from_values(f"new:{NEW},old:{OLD}", INDEX))
    assert rotate(pool, both, batch_size=500, max_batches=2) == 1000  # interrupted
    with connect(fresh_database_url) as conn:
        assert key_usage(conn) == {"old": 2000, "new": 1000}
    assert rotate(pool, both, batch_size=500) == 2000  # resumed
    assert rotate(pool, both, batch_size=500) == 0  # nothing left
    new_only = PiiCipher(Keyring.from_values(f"new:{NEW}", INDEX))
    with connect(fresh_database_url) as conn:
        assert key_usage(conn) == {"new": 3000}
        rows = conn.execute("select id, email_ciphertext from leads").fetchall()
    decrypted = {
        new_only.decrypt(r["email_ciphertext"], aad_for("leads", "email", r["id"])) for r in rows
    }
    assert decrypted == {f"owner{n}@example.com" for n in range(3000)}
    with pytest.raises(DecryptionError):
        old.decrypt(rows[0]["email_ciphertext"], aad_for("leads", "email", rows[0]["id"]))
