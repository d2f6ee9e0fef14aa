"""The database's own settings (table ``meta``): a key is made once and read by every process."""

from __future__ import annotations

import subprocess
import sys

from dev_system.store import db, meta


def test_a_database_key_is_made_once_and_kept(tmp_path):
    path = tmp_path / "t.db"
    conn = db.connect(path)
    try:
        first = meta.database_key(conn)
        assert len(bytes.fromhex(first)) == 32
        assert meta.database_key(conn) == first
        assert meta.database_key(conn, "another") != first
    finally:
        conn.close()
    code = ("import sys; from dev_system.store import db, meta; "
            f"print(meta.database_key(db.connect({str(path)!r})))")
    others = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout.strip()
              for _ in range(2)}
    assert others == {first}
    other_db = db.connect(tmp_path / "other.db")
    try:
        assert meta.database_key(other_db) != first
    finally:
        other_db.close()


def test_an_empty_stored_key_is_replaced(tmp_path):
    conn = db.connect(tmp_path / "t.db")
    try:
        conn.execute("INSERT INTO meta (key, value) VALUES (?, '')", (meta.NODEID_DIGEST_KEY,))
        assert len(meta.database_key(conn)) == 64
    finally:
        conn.close()
