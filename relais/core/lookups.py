"""`field__any_of=[ids]`: membership in a list sent as ONE array parameter on PostgreSQL.

`__in` sends one placeholder per value: with thousands of ids (the practices of a dense
search box) compiling, binding and planning them cost more than running the query. An
array parameter is bound once, and PostgreSQL still sees its values when planning (a
custom plan), so its row estimates follow the real list; it matches with a hashed lookup.
Other databases get a plain IN list.
"""

from django.db.models import IntegerField, Lookup


@IntegerField.register_lookup
class AnyOf(Lookup):
    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = [int(v) for v in self.rhs]
        if connection.vendor == "postgresql":
            # Cast to the column's own type: `bigint = ANY(integer[])` is a cross-type
            # comparison PostgreSQL will not hash, and a linear search of thousands of
            # ids per row cost 150 µs a row.
            array_type = self.lhs.output_field.cast_db_type(connection)
            return f"{lhs} = ANY(%s::{array_type}[])", [*lhs_params, values]
        if not values:
            return "1 = 0", list(lhs_params)
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]
