"""The database's own settings, kept in its ``meta`` table: each read, or made once when missing."""

from __future__ import annotations

import secrets
import sqlite3

from dev_system.store.db import transaction

#: The random key of the digest that tells redacted node ids apart (``test[[REDACTED]]@1a2b3c4d``):
#: the same test gets the same id in every run stored in this database, and nobody without the
#: database can test guesses of the secret against the digest.
NODEID_DIGEST_KEY = "nodeid_digest_key"


def database_key(conn: sqlite3.Connection, name: str = NODEID_DIGEST_KEY) -> str:
    """The random key ``name`` of this database (64 hex digits), made and stored the first time it
    is asked for; every process asking the same database gets the same key."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (name,)).fetchone()
    if row is None or not isinstance(row[0], str) or not row[0]:
        with transaction(conn):
            conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET"
                         " value = excluded.value WHERE meta.value = ''", (name, secrets.token_hex(32)))
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (name,)).fetchone()
    return str(row[0])
