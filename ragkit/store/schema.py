"""The index's schema: tables, FTS5 triggers and numbered migrations.

Migration i brings a database from schema version i to i + 1; `Store` runs the
missing ones at open, inside one write transaction, and records the version in
`meta.schema_version`.
"""

from __future__ import annotations

import secrets
import sqlite3

FTS_AUTOMERGE = 16  # fewer, larger FTS5 merges: faster bulk inserts

M001_FTS_TRIGGERS = {  # chunks_fts over chunks.text alone (m001 to m003)
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

# A chunk's keyword context from its document's title `t` and heading path `h`: both,
# one per line, the title left out when the path already starts with it.
_CONTEXT = """CASE WHEN coalesce(t, '') = '' THEN nullif(h, '') WHEN coalesce(h, '') = '' THEN t
    WHEN h = t OR substr(h, 1, length(t) + 3) = t || ' > ' THEN h ELSE t || char(10) || h END"""
_ADD_CONTEXT = f"""INSERT INTO chunk_contexts (id, context) SELECT new.id, {_CONTEXT}
        FROM (SELECT title AS t, new.heading AS h FROM documents WHERE id = new.document_id);
        INSERT INTO chunks_fts (rowid, text, context) VALUES (new.id, new.text,
            (SELECT context FROM chunk_contexts WHERE id = new.id));"""
_DROP_CONTEXT = """INSERT INTO chunks_fts (chunks_fts, rowid, text, context) VALUES ('delete',
            old.id, old.text, (SELECT context FROM chunk_contexts WHERE id = old.id));
        DELETE FROM chunk_contexts WHERE id = old.id;"""

FTS_TRIGGERS = {  # since m004: chunks_fts over chunks.text and chunk_contexts.context
    "chunks_ai": f"CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN {_ADD_CONTEXT} END",
    "chunks_ad": f"CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN {_DROP_CONTEXT} END",
    "chunks_au": f"""CREATE TRIGGER chunks_au AFTER UPDATE ON chunks BEGIN
        {_DROP_CONTEXT} {_ADD_CONTEXT} END""",
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
    for sql in (*M001_TABLES, *M001_FTS_TRIGGERS.values()):
        conn.execute(sql)
    conn.execute(
        "INSERT INTO chunks_fts (chunks_fts, rank) VALUES ('automerge', ?)", [FTS_AUTOMERGE]
    )


def m002_index_id(conn: sqlite3.Connection) -> None:
    """A random id per index file: with `generation`, an exact cache key, even
    when a deleted index is rebuilt at the same path and counts from 0 again."""
    conn.execute(SET_META, ("index_id", secrets.token_hex(8)))


M003_CHUNKS = """CREATE TABLE chunks_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    seq INTEGER, text TEXT NOT NULL, page INTEGER, char_start INTEGER,
    char_end INTEGER, heading TEXT, embedding BLOB NOT NULL)"""


def m003_chunk_ids_never_reused(conn: sqlite3.Connection) -> None:
    """`chunks.id` becomes AUTOINCREMENT, every id kept (chunks_fts finds rows by rowid =
    chunks.id): a deleted chunk's id is never given to another, so a vector loaded before
    another process re-indexed can never name new text. sqlite_sequence starts at the
    highest stored id, all the file still knows of the ids handed out before."""
    conn.execute("CREATE TABLE ragkit_sequence (id INTEGER PRIMARY KEY AUTOINCREMENT)")
    conn.execute("DROP TABLE ragkit_sequence")  # leaves sqlite_sequence behind
    try:
        _autoincrement_in_place(conn)
    except sqlite3.DatabaseError:  # schema edits refused (SQLITE_DBCONFIG_DEFENSIVE)
        _rebuild_chunks(conn)
    conn.execute("DELETE FROM sqlite_sequence WHERE name IN ('chunks', 'chunks_new')")
    conn.execute(
        "INSERT INTO sqlite_sequence (name, seq) SELECT 'chunks', coalesce(max(id), 0) FROM chunks"
    )


def _autoincrement_in_place(conn: sqlite3.Connection) -> None:
    """Add AUTOINCREMENT to the stored CREATE TABLE. The table's b-tree is the same with
    or without it, so SQLite's in-place procedure for changes that leave the content
    as it is applies (lang_altertable.html#otheralter): milliseconds, where a rebuild
    takes about 10 s per 100k chunks and leaves the file twice as large."""
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'chunks'")
    old, new = "id INTEGER PRIMARY KEY,", "id INTEGER PRIMARY KEY AUTOINCREMENT,"
    created = sql.fetchone()[0]
    if old not in created:
        raise sqlite3.DatabaseError("chunks is not the table m001 made")
    version = conn.execute("PRAGMA schema_version").fetchone()[0]
    conn.execute("PRAGMA writable_schema = ON")
    try:
        conn.execute(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'chunks'",
            (created.replace(old, new, 1),),
        )
    finally:
        conn.execute("PRAGMA writable_schema = OFF")
    conn.execute(f"PRAGMA schema_version = {int(version) + 1}")  # other connections reload


def _rebuild_chunks(conn: sqlite3.Connection) -> None:
    """Copy `chunks` into an AUTOINCREMENT table with the same ids, index and triggers."""
    for trigger in M001_FTS_TRIGGERS:
        conn.execute(f"DROP TRIGGER {trigger}")
    conn.execute(M003_CHUNKS)
    columns = "id, document_id, seq, text, page, char_start, char_end, heading, embedding"
    conn.execute(f"INSERT INTO chunks_new ({columns}) SELECT {columns} FROM chunks ORDER BY id")
    conn.execute("DROP TABLE chunks")
    conn.execute("ALTER TABLE chunks_new RENAME TO chunks")
    conn.execute("CREATE INDEX chunks_document_id ON chunks (document_id)")
    for sql in M001_FTS_TRIGGERS.values():
        conn.execute(sql)


M004_TABLES = (
    "CREATE TABLE chunk_contexts (id INTEGER PRIMARY KEY, context TEXT)",
    """CREATE VIEW chunks_keyword (id, text, context) AS SELECT c.id, c.text, x.context
        FROM chunks c LEFT JOIN chunk_contexts x ON x.id = c.id""",
    """CREATE VIRTUAL TABLE chunks_fts USING fts5(
        text, context, content='chunks_keyword', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2')""",
)


def m004_titles_in_keyword_index(conn: sqlite3.Connection) -> None:
    """Index each chunk's document title and heading path (`chunk_contexts`, written by
    the chunk triggers) in a second chunks_fts column with its own BM25 weight: a title
    word now matches every chunk of its document, not only the first, while the text
    shown and its spans stay exactly the document's. Chunk rows are not rewritten: the
    cost is one small row per chunk and a rebuild of the keyword index."""
    for trigger in M001_FTS_TRIGGERS:
        conn.execute(f"DROP TRIGGER {trigger}")
    conn.execute("DROP TABLE chunks_fts")
    for sql in M004_TABLES:
        conn.execute(sql)
    conn.execute(
        f"""INSERT INTO chunk_contexts (id, context) SELECT id, {_CONTEXT} FROM (SELECT
        c.id AS id, d.title AS t, c.heading AS h FROM chunks c JOIN documents d
        ON d.id = c.document_id)"""
    )
    conn.execute(
        "INSERT INTO chunks_fts (chunks_fts, rank) VALUES ('automerge', ?)", [FTS_AUTOMERGE]
    )
    conn.execute("INSERT INTO chunks_fts (chunks_fts) VALUES ('rebuild')")
    for sql in FTS_TRIGGERS.values():
        conn.execute(sql)


# migration i brings the schema to version i + 1
MIGRATIONS = (
    m001_initial,
    m002_index_id,
    m003_chunk_ids_never_reused,
    m004_titles_in_keyword_index,
)
SCHEMA_VERSION = len(MIGRATIONS)
