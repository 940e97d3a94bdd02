"""Alembic's environment for portalkit: runs on the connection portalkit hands it, for the
tables under the prefix it names, with a version table of portalkit's own."""

from __future__ import annotations

from typing import Any

from alembic import context
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Connection, MetaData, String, Table, create_engine, delete, inspect

from portalkit.errors import ConfigurationError
from portalkit.storage.sqlalchemy.rows import schema_for

config = context.config
connection = config.attributes.get("connection")
schema = schema_for(
    config.attributes.get("portalkit_table_prefix", ""),
    config.attributes.get("portalkit_database_schema"),
)


def _ours(name: str | None, type_: str, parents: Any) -> bool:
    # Autogenerate compares portalkit's own tables only: the host's beside them are not
    # portalkit's to drop.
    if type_ == "schema":
        return name == schema.database_schema
    if type_ != "table":
        return True
    return parents.get("schema_qualified_table_name", name) in schema.metadata.tables


def _adopt_old_version_row(conn: Connection) -> None:
    """Move portalkit's revision out of Alembic's default ``alembic_version`` table, where
    portalkit kept it before it had a version table of its own.

    Only an unprefixed schema ever used it, and only a row naming one of portalkit's
    revisions, on a database holding portalkit's tables, is portalkit's: a host's own row
    stays where it is.
    """
    if schema.prefix or schema.database_schema is not None:
        return
    inspector = inspect(conn)
    names = set(inspector.get_table_names())
    if "alembic_version" not in names or schema.version_table in names:
        return
    if "vendors" not in names or "code_key" not in {
        c["name"] for c in inspector.get_columns("vendors")
    }:
        return
    old = Table("alembic_version", MetaData(), Column("version_num", String(32)))
    script = ScriptDirectory.from_config(config)
    revisions = {r.revision for r in script.walk_revisions()}
    rows = [row.version_num for row in conn.execute(old.select())]
    mine = [r for r in rows if r in revisions]
    if len(mine) != 1:
        return
    MigrationContext.configure(conn, opts={"version_table": schema.version_table}).stamp(
        script, mine[0]
    )
    conn.execute(delete(old).where(old.c.version_num == mine[0]))
    if len(rows) == 1:
        old.drop(conn)  # it held portalkit's row only


def _run(conn: Connection) -> None:
    where = schema.database_schema
    if where is None:
        _adopt_old_version_row(conn)
        _migrate(conn)
        return
    if conn.dialect.name != "postgresql":
        raise ConfigurationError("PORTALKIT_DATABASE_SCHEMA: a schema needs PostgreSQL")
    if conn.exec_driver_sql("SELECT current_user").scalar() == where:
        # '"$user", public' is PostgreSQL's default search_path: such a schema would come
        # first for the host's unqualified queries and hide its tables of the same names.
        raise ConfigurationError(
            f"PORTALKIT_DATABASE_SCHEMA: {where!r} is the database user's name, which the "
            "default search_path puts before public; choose another schema name"
        )
    conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{where}"')
    # The scripts name no schema: every table they make or change is portalkit's schema's.
    previous = conn.get_execution_options().get("schema_translate_map")
    conn.execution_options(schema_translate_map={None: where})
    try:
        _migrate(conn)
    finally:
        conn.execution_options(schema_translate_map=previous)


def _migrate(conn: Connection) -> None:
    context.configure(
        connection=conn,
        target_metadata=schema.metadata,
        version_table=schema.version_table,
        version_table_schema=schema.database_schema,
        include_schemas=schema.database_schema is not None,
        include_name=_ours,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=schema.metadata,
        version_table=schema.version_table,
        version_table_schema=schema.database_schema,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
elif connection is not None:
    _run(connection)
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///portalkit.db")
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
