"""How fast PostgreSQL stores command output in each compression of a ``bytea`` column (migration
invocations/0013 chose LZ4).

Inserts 1,600 chunks of 64 KiB (100 MiB: text lines as the output benchmark prints, then random bytes), one
row per statement in one transaction as the report path does for large chunks, into a scratch table of a
scratch database, and reads them back; prints the best of three inserts, the read and the table's size.

    python bench/output_compression.py [--chunks 1600]
"""

import argparse
import os
import time

import psycopg

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
CHUNK = 65536
COLUMN_SETTINGS = {
    "pglz (the default)": "ALTER TABLE chunks ALTER COLUMN data SET COMPRESSION pglz",
    "lz4": "ALTER TABLE chunks ALTER COLUMN data SET COMPRESSION lz4",
    "none (STORAGE EXTERNAL)": "ALTER TABLE chunks ALTER COLUMN data SET STORAGE EXTERNAL",
}


def text_chunk() -> bytes:
    line = b"assist output benchmark: a line of printable text, as real output is\n"[:63] + b"\n"
    return (line * (CHUNK // len(line) + 1))[:CHUNK]


def measure(conn: psycopg.Connection, setting: str, data: bytes, chunks: int) -> tuple[float, float, int]:
    conn.execute("DROP TABLE IF EXISTS chunks")
    conn.execute("CREATE TABLE chunks (id serial PRIMARY KEY, data bytea NOT NULL)")
    conn.execute(setting)
    inserts = []
    for _ in range(3):
        conn.execute("TRUNCATE chunks")
        started = time.perf_counter()
        with conn.transaction(), conn.cursor() as cursor:
            for _ in range(chunks):
                cursor.execute("INSERT INTO chunks (data) VALUES (%b)", (data,))
        inserts.append(time.perf_counter() - started)
    started = time.perf_counter()
    read = sum(len(row[0]) for row in conn.execute("SELECT data FROM chunks", binary=True))
    assert read == chunks * len(data)
    reading = time.perf_counter() - started
    size = conn.execute("SELECT pg_total_relation_size('chunks')").fetchone()[0]
    return min(inserts), reading, size


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chunks", type=int, default=1600)
    args = parser.parse_args()
    name = f"assist_compression_{os.getpid()}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(PG_ADMIN.rsplit("/", 1)[0] + "/" + name, autocommit=True) as conn:
            mebibytes = args.chunks * CHUNK / 2**20
            for label, data in (("text lines", text_chunk()), ("random bytes", os.urandom(CHUNK))):
                for column, setting in COLUMN_SETTINGS.items():
                    try:
                        insert, read, size = measure(conn, setting, data, args.chunks)
                    except psycopg.errors.FeatureNotSupported as error:
                        print(f"{label:12s} {column:24s} not supported here: {error}", flush=True)
                        continue
                    print(
                        f"{label:12s} {column:24s} insert {mebibytes:.0f} MiB {insert:5.2f} s  "
                        f"read {read:5.2f} s  table {size / 1e6:6.1f} MB",
                        flush=True,
                    )
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
