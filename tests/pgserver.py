"""A throw-away PostgreSQL server for the test suite.

The PostgreSQL-backed tests need a real server, but they must not depend on
(or damage) whatever server a developer happens to run, and CI machines start
from nothing.  This module therefore starts a private server in a temporary
directory, on a free TCP port bound to 127.0.0.1 only, and deletes everything
again when it stops::

    with PostgresServer() as server:
        url = server.create_database("portalkit_test")   # SQLAlchemy URL
        ...

Two escape hatches:

* ``PORTALKIT_TEST_PG_URL`` -- if set, no server is started; that URL (a
  SQLAlchemy URL such as ``postgresql+psycopg://user:pw@host:5432/postgres``)
  is used instead.  The account needs the CREATEDB privilege.
* When PostgreSQL cannot be started, call :func:`unavailable` with the reason:
  it skips the test on a developer machine but *fails* it in CI (``CI=true``),
  so a broken CI setup can never turn into silently skipped tests.

The server binaries (``initdb``, ``pg_ctl``, ``postgres``) are looked up on
``PATH`` first and then in Debian's ``/usr/lib/postgresql/<major>/bin``.
PostgreSQL refuses to run as root; when the tests run as root (containers, CI)
the server commands are run as the ``postgres`` OS user, which Debian's
``postgresql`` package creates.

This module is deliberately free of pytest imports at module level (only
:func:`unavailable` imports pytest), so it can also be used from scripts.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn, Self

__all__ = [
    "ENV_URL",
    "PostgresServer",
    "PostgresUnavailable",
    "find_pg_bin",
    "in_ci",
    "start_or_give_up",
    "unavailable",
]

#: Environment variable naming an externally provided server (SQLAlchemy URL).
ENV_URL = "PORTALKIT_TEST_PG_URL"

#: Role created by ``initdb`` for the private server (it is the superuser).
DEFAULT_USER = "portalkit"

#: OS user that runs the server when the tests themselves run as root.
SERVER_OS_USER = "postgres"

#: Debian/Ubuntu install every major version side by side here; newest wins.
DEBIAN_PG_ROOT = Path("/usr/lib/postgresql")

_REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres")

# Unix socket paths are limited to ~107 bytes (sun_path).  The server puts its
# socket at <socket dir>/.s.PGSQL.<port>, so keep the directory well below that.
_MAX_SOCKET_DIR_LEN = 80

# How long pg_ctl may wait for the server to come up / go down (seconds).
_START_TIMEOUT = 60
_STOP_TIMEOUT = 30

# A free port is picked by binding to port 0 and closing the socket again;
# another process can grab it before the server binds it.  Retry in that case.
_PORT_ATTEMPTS = 3


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be used for the tests; the message says why."""


# --------------------------------------------------------------------------
# Locating binaries, skip-or-fail policy
# --------------------------------------------------------------------------


def _version_key(path: Path) -> tuple[int, ...]:
    """Sort key for ``/usr/lib/postgresql/<version>`` ("9.6" < "15" < "16")."""
    return tuple(int(part) for part in re.findall(r"\d+", path.name)) or (-1,)


def _has_binaries(directory: Path) -> bool:
    return all(os.access(directory / name, os.X_OK) for name in _REQUIRED_BINARIES)


def find_pg_bin() -> Path | None:
    """Return the directory holding ``initdb``, ``pg_ctl`` and ``postgres``.

    ``PATH`` is consulted first (so a developer can point the tests at any
    installation), then the newest Debian-style ``/usr/lib/postgresql/*/bin``.
    Returns ``None`` when no directory holds all three programs.
    """
    initdb = shutil.which("initdb")
    if initdb is not None:
        # Resolve symlinks: distributions and containers often symlink the
        # programs into /usr/local/bin or /usr/bin, and pg_ctl/initdb find
        # their sibling `postgres` relative to their *real* location.  The real
        # directory is also the one that is guaranteed to hold all three.
        for candidate in (Path(initdb).resolve().parent, Path(initdb).parent):
            if _has_binaries(candidate):
                return candidate
    if DEBIAN_PG_ROOT.is_dir():
        versions = sorted(DEBIAN_PG_ROOT.iterdir(), key=_version_key, reverse=True)
        for version_dir in versions:
            if _has_binaries(version_dir / "bin"):
                return version_dir / "bin"
    return None


def in_ci() -> bool:
    """True when running in CI (``CI`` set to ``true``, ``1``, ``yes`` or ``on``).

    ``CI=true`` is what GitHub Actions, GitLab CI and most others set; the
    other spellings are accepted because failing loudly is the safe side.
    """
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes", "on"}


def unavailable(reason: str) -> NoReturn:
    """Give up on a PostgreSQL test: fail in CI, skip everywhere else.

    Locally a missing PostgreSQL is a normal situation (skip, with the reason
    in the ``-ra`` summary).  In CI the script installs PostgreSQL, so not
    having it means the setup is broken, and a skip would hide that.
    """
    import pytest  # imported here so the rest of the module works without pytest

    if in_ci():
        pytest.fail(
            f"PostgreSQL is required in CI (CI=true) but unavailable: {reason}", pytrace=False
        )
    pytest.skip(f"PostgreSQL unavailable: {reason}")


def start_or_give_up(server: PostgresServer | None = None) -> PostgresServer:
    """Start ``server`` (default: a new :class:`PostgresServer`) for a test or fixture.

    If it cannot be started, the test is skipped -- or failed in CI -- via
    :func:`unavailable`.  Typical session fixture::

        @pytest.fixture(scope="session")
        def pg_server():
            with start_or_give_up() as server:
                yield server
    """
    server = server if server is not None else PostgresServer()
    try:
        server.start()
    except PostgresUnavailable as exc:
        reason = str(exc)
    else:
        return server
    # Outside the except block, so the report is not cluttered with
    # "During handling of the above exception, another exception occurred".
    unavailable(reason)


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


def _free_port() -> int:
    """Ask the kernel for a currently unused TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 30) -> str:
    """Last lines of a log file, for error messages (never raises)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"(could not read {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(empty)"


def _child_env() -> dict[str, str]:
    """Environment for initdb/pg_ctl.

    PG* variables (PGDATA, PGPORT, PGHOST, ...) from the developer's shell
    must not leak into our private server; a C locale keeps initdb from
    failing or warning on machines whose LANG names a locale that is not
    installed (common in containers).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    env["LANG"] = "C"
    return env


def _traversable_by(path: Path, uid: int, gid: int) -> bool:
    """Can user ``uid``/``gid`` reach ``path`` (search permission on every ancestor)?

    Used when the server runs as ``postgres`` while we are root: a temp dir
    below e.g. /root/tmp (mode 0700) would be unreachable for the server.
    Supplementary groups are ignored, which errs on the safe side.
    """
    for directory in [path, *path.parents]:
        try:
            st = directory.stat()
        except OSError:
            return False
        if st.st_uid == uid:
            ok = bool(st.st_mode & stat.S_IXUSR)
        elif st.st_gid == gid:
            ok = bool(st.st_mode & stat.S_IXGRP)
        else:
            ok = bool(st.st_mode & stat.S_IXOTH)
        if not ok:
            return False
    return True


def _url_to_connect_kwargs(url: str) -> dict[str, Any]:
    """Turn a SQLAlchemy URL into keyword arguments for ``psycopg.connect``.

    Passing the parts separately (rather than re-rendering a libpq URI)
    avoids any percent-encoding differences for unusual passwords.
    """
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    kwargs: dict[str, Any] = {
        "host": parsed.host,
        "port": parsed.port,
        "user": parsed.username,
        "password": parsed.password,
        "dbname": parsed.database,
    }
    for key, value in parsed.query.items():
        # Query parameters (sslmode=..., connect_timeout=...) are libpq options.
        kwargs[key] = value[-1] if isinstance(value, tuple) else value
    return {k: v for k, v in kwargs.items() if v is not None}


# --------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------


class PostgresServer:
    """A private, disposable PostgreSQL server (or an external one, see below).

    ``start()`` creates a temporary directory holding the data directory, the
    Unix socket and ``server.log``; runs ``initdb`` with trust authentication
    and superuser ``portalkit``; and starts the server on a free port of
    127.0.0.1 (``listen_addresses`` is exactly ``127.0.0.1``, so nothing listens
    on other interfaces).  Durability is switched off (``fsync`` etc.) because
    the data is thrown away anyway and it makes the tests much faster.
    ``stop()`` shuts the server down and removes the directory.

    If ``external_url`` is given -- by default it is taken from the
    ``PORTALKIT_TEST_PG_URL`` environment variable -- nothing is started:
    :attr:`url` is that URL and ``start()``/``stop()`` only manage the
    databases created through :meth:`create_database` (they are dropped again
    on ``stop()``, since an external server outlives the test run).

    Raises :class:`PostgresUnavailable` (from ``start()``) when the server
    cannot be started; pass the message to :func:`unavailable`.
    """

    def __init__(
        self,
        external_url: str | None = None,
        *,
        use_env: bool = True,
        pg_bin: Path | None = None,
        user: str = DEFAULT_USER,
    ) -> None:
        if external_url is None and use_env:
            external_url = os.environ.get(ENV_URL) or None
        self.external: bool = external_url is not None
        self.user = user
        self.port: int | None = None
        self.base_dir: Path | None = None  # temp dir; None when not running
        self._url: str | None = external_url
        self._pg_bin = pg_bin
        self._run_as: pwd.struct_passwd | None = None
        self._created_databases: list[str] = []
        self._started = False

    # -- public API ---------------------------------------------------------

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``postgres`` database (``postgresql+psycopg://...``)."""
        if self._url is None:
            raise RuntimeError("PostgresServer is not running; call start() first")
        return self._url

    @property
    def data_dir(self) -> Path | None:
        return None if self.base_dir is None else self.base_dir / "data"

    @property
    def log_file(self) -> Path | None:
        """The server log (useful when a test wants to look at server errors)."""
        return None if self.base_dir is None else self.base_dir / "server.log"

    def start(self) -> Self:
        """Start the server (no-op for an external one). Returns ``self``."""
        if self._started:
            return self
        if self.external:
            self._started = True
            return self

        pg_bin = self._pg_bin or find_pg_bin()
        if pg_bin is None:
            raise PostgresUnavailable(
                "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH "
                f"or in {DEBIAN_PG_ROOT}/*/bin; install PostgreSQL (Debian: "
                "apt-get install postgresql) or set "
                f"{ENV_URL}=postgresql+psycopg://USER@HOST:PORT/postgres"
            )
        if not _has_binaries(pg_bin):
            raise PostgresUnavailable(
                f"{pg_bin} does not hold all of {', '.join(_REQUIRED_BINARIES)} (executable)"
            )
        self._pg_bin = pg_bin
        self._run_as = self._server_os_user()
        self.base_dir = self._make_base_dir()
        # Make sure an interpreter exit (e.g. an aborted test session) does
        # not leave a postgres process and its temp dir behind.
        atexit.register(self.stop)
        try:
            self._initdb()
            self._start_server()
        except BaseException:
            self.stop()
            raise
        self._started = True
        return self

    def stop(self) -> None:
        """Stop the server and delete its directory. Safe to call repeatedly."""
        atexit.unregister(self.stop)
        if self.external:
            self._drop_created_databases()
            self._started = False
            return
        try:
            if self.data_dir is not None and (self.data_dir / "postmaster.pid").exists():
                self._shutdown()
        finally:
            if self.base_dir is not None:
                shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None
            self._url = None
            self.port = None
            self._started = False

    def create_database(self, name: str) -> str:
        """Create an empty database ``name`` and return its SQLAlchemy URL.

        The database is created from ``template0`` with UTF8 encoding so its
        contents do not depend on what someone put into ``template1``.
        """
        import psycopg
        from psycopg import sql
        from sqlalchemy.engine import make_url

        with psycopg.connect(**_url_to_connect_kwargs(self.url), autocommit=True) as conn:
            # CREATE DATABASE cannot run inside a transaction, hence autocommit.
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(
                    sql.Identifier(name)
                )
            )
        self._created_databases.append(name)
        return make_url(self.url).set(database=name).render_as_string(hide_password=False)

    def connect_kwargs(self, url: str | None = None) -> dict[str, Any]:
        """``psycopg.connect`` keyword arguments for ``url`` (default: :attr:`url`)."""
        return _url_to_connect_kwargs(url or self.url)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = "external" if self.external else f"port={self.port}, dir={self.base_dir}"
        return f"<PostgresServer {where} running={self._started}>"

    # -- internals ----------------------------------------------------------

    def _server_os_user(self) -> pwd.struct_passwd | None:
        """The OS user to run the server as, or None to run it as ourselves."""
        if os.geteuid() != 0:
            return None
        # initdb, pg_ctl and postgres all refuse to run as root.
        try:
            return pwd.getpwnam(SERVER_OS_USER)
        except KeyError:
            raise PostgresUnavailable(
                f"running as root, and PostgreSQL refuses to run as root; the "
                f"{SERVER_OS_USER!r} OS user to run it as does not exist "
                "(Debian's postgresql package creates it)"
            ) from None

    def _make_base_dir(self) -> Path:
        """Create the temp dir (data dir, socket, log) owned by the server user."""
        candidates = [Path(tempfile.gettempdir()), Path("/tmp")]
        for parent in dict.fromkeys(candidates):  # de-duplicated, order kept
            if self._run_as is not None and not _traversable_by(
                parent, self._run_as.pw_uid, self._run_as.pw_gid
            ):
                continue  # the postgres user could not reach a dir in there
            base = Path(tempfile.mkdtemp(prefix="portalkit-pg-", dir=parent))
            if len(str(base)) > _MAX_SOCKET_DIR_LEN:
                base.rmdir()
                continue  # socket path would be too long
            if self._run_as is not None:
                os.chown(base, self._run_as.pw_uid, self._run_as.pw_gid)
            return base
        requirement = f"at most {_MAX_SOCKET_DIR_LEN} characters long (Unix socket path limit)"
        if self._run_as is not None:
            requirement += f" and reachable by the {SERVER_OS_USER!r} OS user"
        tried = ", ".join(str(c) for c in dict.fromkeys(candidates))
        raise PostgresUnavailable(
            f"no usable temporary directory (tried {tried}); it must be {requirement}"
        )

    def _command(self, argv: Sequence[str]) -> list[str]:
        """Wrap ``argv`` so it runs as the server OS user when we are root."""
        if self._run_as is None:
            return list(argv)
        runuser = shutil.which("runuser")
        if runuser is not None:
            return [runuser, "-u", self._run_as.pw_name, "--", *argv]
        su = shutil.which("su")
        if su is None:
            raise PostgresUnavailable("running as root but neither runuser nor su is available")
        # su takes a shell command line; -s /bin/sh so a nologin shell of the
        # postgres user does not get in the way.
        return [su, "-s", "/bin/sh", self._run_as.pw_name, "-c", shlex.join(argv)]

    def _run(self, argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        assert self.base_dir is not None
        return subprocess.run(
            self._command(argv),
            # The server user may not be able to enter our cwd; the temp dir is its own.
            cwd=self.base_dir,
            env=_child_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def _bin(self, name: str) -> str:
        assert self._pg_bin is not None
        return str(self._pg_bin / name)

    def _initdb(self) -> None:
        assert self.data_dir is not None
        result = self._run(
            [
                self._bin("initdb"),
                f"--pgdata={self.data_dir}",
                f"--username={self.user}",
                "--auth=trust",  # the server is reachable only locally and lives minutes
                "--encoding=UTF8",
                "--locale=C",  # always installed; no dependency on system locales
                "--no-sync",  # the data is thrown away; skipping fsync saves seconds
                "--no-instructions",
            ],
            timeout=120,
        )
        if result.returncode != 0:
            raise PostgresUnavailable(
                f"initdb failed (exit {result.returncode}):\n"
                f"{(result.stdout + result.stderr).strip()}"
            )

    def _start_server(self) -> None:
        assert self.base_dir is not None and self.data_dir is not None
        assert self.log_file is not None
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            port = _free_port()
            options = " ".join(
                [
                    # Only the IPv4 loopback address: not "localhost" (which
                    # would add ::1) and never "*".
                    "-c listen_addresses=127.0.0.1",
                    f"-p {port}",
                    # Socket in our temp dir, not /var/run/postgresql (which
                    # may not exist or may belong to a system cluster).
                    f"-k {shlex.quote(str(self.base_dir))}",
                    # Throw-away data: trade durability for speed.
                    "-c fsync=off",
                    "-c synchronous_commit=off",
                    "-c full_page_writes=off",
                ]
            )
            result = self._run(
                [
                    self._bin("pg_ctl"),
                    "start",
                    "--wait",
                    f"--timeout={_START_TIMEOUT}",
                    f"--pgdata={self.data_dir}",
                    f"--log={self.log_file}",
                    f"--options={options}",
                ],
                timeout=_START_TIMEOUT + 30,
            )
            if result.returncode == 0:
                self.port = port
                self._url = f"postgresql+psycopg://{self.user}@127.0.0.1:{port}/postgres"
                return
            log_tail = _tail(self.log_file)
            # If pg_ctl gave up waiting, a postmaster may still be running.
            if (self.data_dir / "postmaster.pid").exists():
                self._shutdown()
            if "Address already in use" in log_tail and attempt < _PORT_ATTEMPTS:
                continue  # somebody took the port in the meantime; pick another
            raise PostgresUnavailable(
                f"PostgreSQL did not start (pg_ctl exit {result.returncode}):\n"
                f"{(result.stdout + result.stderr).strip()}\n"
                f"--- last lines of the server log ---\n{log_tail}"
            )

    def _shutdown(self) -> None:
        """Stop the postmaster: fast mode, then immediate, then SIGKILL."""
        assert self.data_dir is not None
        # "fast" disconnects clients and shuts down cleanly; with fsync=off it
        # takes a fraction of a second.  "immediate" is the fallback if a
        # checkpoint hangs for some reason.
        for mode in ("fast", "immediate"):
            with contextlib.suppress(subprocess.TimeoutExpired):
                result = self._run(
                    [
                        self._bin("pg_ctl"),
                        "stop",
                        "--wait",
                        f"--timeout={_STOP_TIMEOUT}",
                        f"--pgdata={self.data_dir}",
                        f"--mode={mode}",
                    ],
                    timeout=_STOP_TIMEOUT + 10,
                )
                if result.returncode == 0:
                    return
        # Last resort, so that no process outlives the test session.
        pid = self._postmaster_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)

    def _postmaster_pid(self) -> int | None:
        assert self.data_dir is not None
        try:
            first_line = (self.data_dir / "postmaster.pid").read_text().splitlines()[0]
            return int(first_line)
        except (OSError, IndexError, ValueError):
            return None

    def _drop_created_databases(self) -> None:
        """Drop the databases this object created on an external server."""
        if not self._created_databases or self._url is None:
            return
        import psycopg
        from psycopg import sql

        names: Iterable[str] = reversed(self._created_databases)
        with psycopg.connect(**_url_to_connect_kwargs(self._url), autocommit=True) as conn:
            for name in names:
                # WITH (FORCE) (PostgreSQL 13+) disconnects leftover sessions,
                # e.g. a SQLAlchemy pool a test forgot to dispose.
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
        self._created_databases.clear()
