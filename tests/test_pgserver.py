"""Tests for the throw-away PostgreSQL server helper (tests/pgserver.py).

Every PostgreSQL-backed test relies on this helper, so it is checked on its
own: the server starts, is reachable on 127.0.0.1 only, can create databases,
and is really gone after stop().
"""

from __future__ import annotations

import importlib.util
import socket
import uuid

import pytest

from pgserver import start_or_give_up, unavailable


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


@pytest.mark.postgres
def test_server_lifecycle() -> None:
    if importlib.util.find_spec("psycopg") is None:  # the "postgres" extra is missing
        unavailable("psycopg is not installed (pip install 'portalkit[postgres]')")
    import psycopg

    server = start_or_give_up()

    try:
        with psycopg.connect(**server.connect_kwargs()) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
            if not server.external:
                # The private server must be reachable on the IPv4 loopback
                # address only -- never on ::1 or an external interface.
                assert conn.execute("select host(inet_server_addr())").fetchone() == ("127.0.0.1",)
                assert conn.execute("show listen_addresses").fetchone() == ("127.0.0.1",)

        name = f"portalkit_test_{uuid.uuid4().hex[:12]}"
        db_url = server.create_database(name)
        assert db_url.startswith("postgresql+psycopg://")
        assert db_url.endswith(f"/{name}")
        with psycopg.connect(**server.connect_kwargs(db_url)) as conn:
            assert conn.execute("select current_database()").fetchone() == (name,)
            tables = conn.execute(
                "select count(*) from information_schema.tables"
                " where table_schema not in ('pg_catalog', 'information_schema')"
            ).fetchone()
            assert tables == (0,)
    finally:
        port, base_dir, external = server.port, server.base_dir, server.external
        server.stop()

    if not external:
        # With an external server (PORTALKIT_TEST_PG_URL) there is nothing of
        # ours to shut down; otherwise the server and its files must be gone.
        assert port is not None and base_dir is not None
        assert not _accepts_connections(port)
        assert not base_dir.exists()
