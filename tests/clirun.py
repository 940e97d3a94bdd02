"""The ``portalkit`` command line run in-process (click's ``CliRunner``) on a SQLite file of the
test's own: the fixtures the CLI test modules share.

tests/conftest.py imports both fixtures, so any test module can ask for them by name; a module
with a ``db_url`` of its own (a file elsewhere) overrides it, and ``run`` follows.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from portalkit.cli import portalkit

__all__ = ["MAIL_FROM", "Run", "db_url", "run"]

MAIL_FROM = "portal@vendor.example"

Run = Callable[..., Result]


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """The test's database: a SQLite file in its temporary folder."""
    return f"sqlite:///{tmp_path / 'portal.db'}"


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> Iterator[Run]:
    """``run(*args, **env)``: the command line with PORTALKIT_DATABASE_URL on the tmp file."""
    for name in list(os.environ):
        if name.startswith("PORTALKIT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env of the repository
    runner = CliRunner()

    def invoke(*args: str, **env: str) -> Result:
        full = {
            "PORTALKIT_DATABASE_URL": db_url,
            "PORTALKIT_MAIL_FROM": MAIL_FROM,
            **{f"PORTALKIT_{k.upper()}": v for k, v in env.items()},
        }
        return runner.invoke(portalkit, list(args), env=full)

    yield invoke
