#!/usr/bin/env python3
"""DATABASE_ARCHITECTURE.md must mention every table, index and named constraint
the migrations create (services/*/migrations/*.sql), and every collection and
index the event service's MongoDB store creates (services/event/src/store/mongo.rs),
so the document cannot silently fall behind the schema. Prints what is missing;
exit 1 if anything is.

    python3 tests-deploy/check-db-doc.py
"""
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent
doc = (root / "DATABASE_ARCHITECTURE.md").read_text()
missing = []
count = 0
for sql_path in sorted(root.glob("services/*/migrations/*.sql")):
    service = sql_path.parent.parent.name
    sql = re.sub(r"--[^\n]*", "", sql_path.read_text())
    names = []
    names += [("table", n) for n in re.findall(r"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", sql, re.I)]
    names += [("index", n) for n in re.findall(r"CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", sql, re.I)]
    names += [("constraint", n) for n in re.findall(r"CONSTRAINT\s+(\w+)", sql, re.I)]
    for kind, name in names:
        count += 1
        if not re.search(rf"\b{re.escape(name)}\b", doc):
            missing.append(f"{service}: {kind} {name} ({sql_path.relative_to(root)})")
    section = re.search(rf"^## {service} ", doc, re.M)
    if not section:
        missing.append(f"{service}: no '## {service} ...' section")

# The event service has no migrations: its schema is the collections and the
# index names its MongoDB store creates at start-up.
mongo_path = root / "services/event/src/store/mongo.rs"
mongo = mongo_path.read_text()
mongo_names = [("collection", n) for n in re.findall(r'collection\("(\w+)"\)', mongo)]
mongo_names += [("index", n) for n in re.findall(r'\bindex\(\s*"(\w+)"', mongo)]
if not mongo_names:
    missing.append(f"event: no collections or indexes found in {mongo_path.relative_to(root)} (has the store moved?)")
for kind, name in mongo_names:
    count += 1
    if not re.search(rf"\b{re.escape(name)}\b", doc):
        missing.append(f"event: MongoDB {kind} {name} ({mongo_path.relative_to(root)})")
if not re.search(r"^## event ", doc, re.M):
    missing.append("event: no '## event ...' section")

for m in missing:
    print(f"FAIL DATABASE_ARCHITECTURE.md does not mention {m}")
if missing:
    sys.exit(1)
print(f"ok: DATABASE_ARCHITECTURE.md mentions all {count} tables, indexes and named constraints of the migrations and the event store's MongoDB collections and indexes")
