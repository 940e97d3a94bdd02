"""Everything a portal has stored, as one string, to prove a secret is nowhere in it."""

from __future__ import annotations

from typing import Any

from portalkit import Portal


def stored_everything(portal: Portal) -> str:
    """Every row of every table (memory or SQL), the throttle counters included."""
    storage: Any = portal.storage
    if hasattr(storage, "_tables"):
        tables = storage._tables
        return repr([list(rows.values()) for rows in tables.rows.values()]) + repr(tables.throttles)
    from sqlalchemy import select

    from portalkit.storage.sqlalchemy.rows import Base

    dump = []
    with storage.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            dump.append(repr(conn.execute(select(table)).all()))
    return "\n".join(dump)
