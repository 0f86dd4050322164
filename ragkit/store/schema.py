"""The index's schema: tables, FTS5 triggers and numbered migrations.

Migration i brings a database from schema version i to i + 1; `Store` runs the
missing ones at open, inside one write transaction, and records the version in
`meta.schema_version`.
"""

from __future__ import annotations

import secrets
import sqlite3

FTS_AUTOMERGE = 16  # fewer, larger FTS5 merges: faster bulk inserts

FTS_TRIGGERS = {
    "chunks_ai": """CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
        INSERT INTO chunks_fts (rowid, text) VALUES (new.id, new.text);
    END""",
    "chunks_ad": """CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
        INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END""",
    "chunks_au": """CREATE TRIGGER chunks_au AFTER UPDATE ON chunks BEGIN
        INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO chunks_fts (rowid, text) VALUES (new.id, new.text);
    END""",
}

M001_TABLES = (
    """CREATE TABLE documents (
        id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL, hash TEXT NOT NULL,
        size INTEGER, mtime REAL, type TEXT, title TEXT, indexed_at TEXT)""",
    """CREATE TABLE chunks (
        id INTEGER PRIMARY KEY,
        document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        seq INTEGER, text TEXT NOT NULL, page INTEGER, char_start INTEGER,
        char_end INTEGER, heading TEXT, embedding BLOB NOT NULL)""",
    "CREATE INDEX chunks_document_id ON chunks (document_id)",
    """CREATE VIRTUAL TABLE chunks_fts USING fts5(
        text, content='chunks', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2')""",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)",
    "INSERT INTO meta (key, value) VALUES ('generation', '0')",
)

SET_META = (
    "INSERT INTO meta (key, value) VALUES (?, ?)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)


def m001_initial(conn: sqlite3.Connection) -> None:
    """documents, chunks, chunks_fts with its triggers, meta."""
    for sql in (*M001_TABLES, *FTS_TRIGGERS.values()):
        conn.execute(sql)
    conn.execute(
        "INSERT INTO chunks_fts (chunks_fts, rank) VALUES ('automerge', ?)", [FTS_AUTOMERGE]
    )


def m002_index_id(conn: sqlite3.Connection) -> None:
    """A random id per index file: with `generation`, an exact cache key, even
    when a deleted index is rebuilt at the same path and counts from 0 again."""
    conn.execute(SET_META, ("index_id", secrets.token_hex(8)))


MIGRATIONS = (m001_initial, m002_index_id)  # migration i brings the schema to version i + 1
SCHEMA_VERSION = len(MIGRATIONS)
