"""The SQLAlchemy storage backend (SQLite and PostgreSQL).

Import it only through settings (``PORTALKIT_STORAGE=sqlalchemy``, the default) or directly::

    from portalkit.storage.sqlalchemy import SqlStorage
    portal = Portal(SqlStorage("sqlite:///portal.db"))
"""

from portalkit.storage.sqlalchemy._backend import SqlStorage, SqlUnitOfWork, alembic_config

__all__ = ["SqlStorage", "SqlUnitOfWork", "alembic_config"]
