"""Fast bulk insertion of model rows: COPY on PostgreSQL, executemany elsewhere.

Rows are dicts keyed by field attname; missing fields take the model's static default (a
JSONField's callable default, list or dict, is called once: the value is only serialised).
Primary keys are assigned by the caller (`next_ids`) so that related rows can be built
without a round trip; sequences are moved past them by `sequences_reset`.
"""

import json
from collections.abc import Iterable

from django.db import connection
from django.db.models import NOT_PROVIDED


class Table:
    def __init__(self, model):
        self.model = model
        self.table = model._meta.db_table
        self.fields = list(model._meta.concrete_fields)
        self.columns = [f.column for f in self.fields]
        self.defaults = {}
        for f in self.fields:
            if f.default is not NOT_PROVIDED and not callable(f.default):
                self.defaults[f.attname] = f.default
            elif f.get_internal_type() == "JSONField" and callable(f.default):
                self.defaults[f.attname] = f.default()  # list or dict: only serialised
            elif f.null:
                self.defaults[f.attname] = None
            elif f.get_internal_type() in {"CharField", "TextField"}:
                self.defaults[f.attname] = ""

    def tuple(self, row: dict) -> tuple:
        defaults = self.defaults
        return tuple(
            row[f.attname] if f.attname in row else defaults[f.attname] for f in self.fields
        )

    def insert(self, rows: Iterable[dict]) -> int:
        n = 0
        if connection.vendor == "postgresql":
            cols = ", ".join(connection.ops.quote_name(c) for c in self.columns)
            sql = f"COPY {self.table} ({cols}) FROM STDIN"
            json_at = [i for i, f in enumerate(self.fields) if f.get_internal_type() == "JSONField"]
            with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
                for row in rows:
                    values = self.tuple(row)
                    if json_at:  # COPY's text format takes JSON as its text
                        values = list(values)
                        for i in json_at:
                            if values[i] is not None:
                                values[i] = json.dumps(values[i])
                    copy.write_row(values)
                    n += 1
            return n
        # Other databases (the tests' SQLite): prepared values, executemany by batches.
        cols = ", ".join(connection.ops.quote_name(c) for c in self.columns)
        marks = ", ".join(["%s"] * len(self.columns))
        sql = f"INSERT INTO {self.table} ({cols}) VALUES ({marks})"  # noqa: S608 - model tables
        batch = []
        with connection.cursor() as cursor:
            for row in rows:
                values = self.tuple(row)
                batch.append(
                    [
                        f.get_db_prep_save(v, connection)
                        for f, v in zip(self.fields, values, strict=True)
                    ]
                )
                n += 1
                if len(batch) >= 2000:
                    cursor.executemany(sql, batch)
                    batch = []
            if batch:
                cursor.executemany(sql, batch)
        return n


def next_id(model) -> int:
    with connection.cursor() as cursor:
        table = model._meta.db_table
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608
        return cursor.fetchone()[0] + 1


def sequences_reset(models) -> None:
    """Move each table's id sequence past the ids written by hand (PostgreSQL)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in models:
            table = model._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
            )
