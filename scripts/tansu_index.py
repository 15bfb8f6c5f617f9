#!/usr/bin/env python3
"""Give tansu 0.6.0's SQLite log the index its fetch path needs.

tansu's schema creates the `header` table (record headers) without any index,
and a fetch looks up the headers of every record it returns with
`... where topition = ? and offset_id = ?`. SQLite then scans the whole header
table once per record read, so every consumer slows down as the log grows
(EXPLAIN QUERY PLAN: `SCAN h`; with the index: `SEARCH h USING INDEX`). Every
Evently message carries trace headers, so this was the broker's bound.

Run it against the broker's file while the broker is stopped (or before any
client writes): CREATE INDEX takes SQLite's write lock for as long as it
builds. Idempotent; a file without tansu's schema yet is left alone.

Usage: tansu_index.py PATH/tansu.db"""
import sqlite3
import sys

path = sys.argv[1]
db = sqlite3.connect(path, timeout=30)
try:
    has_header = db.execute(
        "select 1 from sqlite_master where type = 'table' and name = 'header'"
    ).fetchone()
    if not has_header:
        print(f"{path}: no header table yet (tansu creates it on first start)")
        sys.exit(0)
    db.execute(
        "create index if not exists evently_header_topition_offset_id"
        " on header (topition, offset_id)"
    )
    db.commit()
finally:
    db.close()
