"""Output chunks compressed with LZ4 on PostgreSQL instead of its default pglz.

A chunk of 64 KiB is stored out of line and compressed; command output is mostly text, which pglz
compresses at a fraction of the speed of LZ4 (100 MiB of log-like text: 0.53 s to insert with pglz,
0.12 s with LZ4, and a smaller table; bench/output_compression.py, docs/performance.md, section
"2026-12-06, later"). Needs PostgreSQL 14 or later built with LZ4 (Debian's packages and the official
images are); otherwise the column keeps pglz. Only the column's setting changes (a moment's exclusive
lock, no rewrite): existing chunks keep their compression until retention purges them. SQLite has no
such setting."""

from django.db import migrations

SET_LZ4 = "ALTER TABLE invocations_outputchunk ALTER COLUMN data SET COMPRESSION lz4"
SET_DEFAULT = "ALTER TABLE invocations_outputchunk ALTER COLUMN data SET COMPRESSION DEFAULT"
# The setting's choices list lz4 only in a server built with it.
HAS_LZ4 = "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"


def _supports_lz4(schema_editor) -> bool:
    connection = schema_editor.connection
    if connection.vendor != "postgresql" or connection.pg_version < 140000:
        return False
    with connection.cursor() as cursor:
        cursor.execute(HAS_LZ4)
        row = cursor.fetchone()
    return bool(row and row[0])


def compress_with_lz4(apps, schema_editor):
    if _supports_lz4(schema_editor):
        schema_editor.execute(SET_LZ4)


def compress_by_default(apps, schema_editor):
    if _supports_lz4(schema_editor):
        schema_editor.execute(SET_DEFAULT)


class Migration(migrations.Migration):
    dependencies = [("invocations", "0012_invocation_account_region_index")]

    operations = [migrations.RunPython(compress_with_lz4, compress_by_default)]
