"""``portalkit import`` and ``portalkit export``, run as an operator runs them: the real command
in a subprocess against a SQLite file, checking output, ``--json`` and exit codes."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

import portalkit
from portalkit import Portal
from portalkit.actors import System
from portalkit.cli._app import ExitCode
from portalkit.testing import World

Run = Callable[..., subprocess.CompletedProcess[str]]

MIXED = "code,name\nHGZ,Hoogezand\nBAD CODE,Slecht\nACME,=cmd|' /C calc'!A0\n"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTALKIT_")}
    env.update(
        PORTALKIT_DATABASE_URL=f"sqlite:///{tmp_path / 'portal.db'}",
        PORTALKIT_MAIL_FROM="portal@vendor.example",
        PORTALKIT_MAIL_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        PORTALKIT_BASE_URL="https://portal.vendor.example",
        # Not the console: mail printed to stdout would not be --json's alone.
        PORTALKIT_MAIL_BACKEND="file",
        PORTALKIT_MAIL_FILE_DIR=str(tmp_path / "mail"),
        # This portalkit, whatever the relative PYTHONPATH of the test run means in tmp_path.
        PYTHONPATH=os.pathsep.join(
            [str(Path(portalkit.__file__).parents[1]), env.get("PYTHONPATH", "")]
        ),
    )
    return env


@pytest.fixture
def portal(env: dict[str, str]) -> Portal:
    portal = Portal.from_settings(database_url=env["PORTALKIT_DATABASE_URL"])
    World(portal, vendor_code=portal.settings.default_vendor)
    return portal


@pytest.fixture
def run(tmp_path: Path, env: dict[str, str], portal: Portal) -> Run:
    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "portalkit", *args],
            env=env,
            cwd=tmp_path,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run


def _file(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_import_reports_the_bad_rows_as_json_and_exits_4(run: Run, tmp_path: Path) -> None:
    path = _file(tmp_path, "customers.csv", MIXED)

    first = run("import", "customers", path, "--json", "--language", "nl")
    again = run("import", "customers", path, "--json")

    assert first.returncode == again.returncode == ExitCode.REFUSED
    report = json.loads(first.stdout)
    assert (report["read"], report["written"], report["skipped"]) == (3, 2, 1)
    assert report["problems"] == [
        {
            "line": 3,
            "column": "code",
            "code": "invalid_characters",
            "reason": "mag alleen letters A–Z, cijfers, '-' en '_' bevatten",
        }
    ]
    assert json.loads(again.stdout)["unchanged"] == 2  # the re-run changes nothing
    assert first.stderr == ""  # no progress bar without a terminal


def test_a_clean_file_exits_0_with_one_line(run: Run, tmp_path: Path) -> None:
    path = _file(tmp_path, "customers.csv", "code;name\nHGZ;Hoogezand\n")

    done = run("import", "customers", path)

    assert done.returncode == ExitCode.OK, done.stderr
    assert done.stdout.strip() == (
        "customers: 1 read, written 1 (1 new, 0 changed), 0 unchanged, 0 problem(s)"
    )


def test_import_shows_a_table_of_problems_for_people(run: Run, tmp_path: Path) -> None:
    done = run("import", "customers", "-", "--dry-run", stdin=MIXED)

    assert done.returncode == ExitCode.REFUSED
    assert "invalid_characters" in done.stdout and "BAD" not in done.stderr
    assert done.stdout.splitlines()[-1].endswith("1 problem(s), nothing stored")


def test_a_dry_run_stores_nothing(run: Run, tmp_path: Path, portal: Portal) -> None:
    done = run("import", "customers", "-", "--dry-run", "--json", stdin="code,name\nA,B\n")

    assert done.returncode == ExitCode.OK
    assert json.loads(done.stdout)["committed"] is False
    assert run("export", "customers").stdout.splitlines()[1:] == []


def test_all_or_nothing_stores_nothing_when_a_row_is_bad(run: Run, tmp_path: Path) -> None:
    done = run("import", "customers", "-", "--mode", "all-or-nothing", "--json", stdin=MIXED)

    assert done.returncode == ExitCode.REFUSED
    assert json.loads(done.stdout)["written"] == 0
    assert run("export", "customers").stdout.splitlines()[1:] == []


def test_a_bad_header_is_one_line_in_the_operators_language(run: Run) -> None:
    done = run("import", "customers", "-", "--language", "nl", stdin="code,naam\nA,B\n")

    assert done.returncode == ExitCode.REFUSED
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("portalkit: naam:") and "verplichte" in line


def test_a_file_that_is_not_utf8_is_refused(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("code,name\nMUL,Müller\n".encode("latin-1"))

    done = run("import", "customers", str(path))

    assert done.returncode == ExitCode.REFUSED
    assert "UTF-8" in done.stderr and len(done.stderr.splitlines()) == 1


def test_wrong_command_lines_exit_2(run: Run, tmp_path: Path) -> None:
    missing = run("import", "customers", str(tmp_path / "nope.csv"))
    kind = run("import", "orders", "-", stdin="")
    mode = run("import", "customers", "-", "--mode", "some", stdin="")

    assert missing.returncode == kind.returncode == mode.returncode == ExitCode.USAGE


def test_an_unknown_vendor_is_refused(run: Run) -> None:
    done = run("import", "customers", "-", "--vendor", "nobody", stdin="code,name\nA,B\n")

    assert done.returncode == ExitCode.REFUSED
    assert "nobody" in done.stderr


def test_logins_with_invitations(run: Run, tmp_path: Path, portal: Portal) -> None:
    run("import", "customers", "-", stdin="code,name\nHGZ,Hoogezand\n")
    rows = "customer,email,first_name,last_name\nHGZ,anna@hgz.example,Anna,Smit\nHGZ,bad,Bad,Row\n"

    done = run("import", "logins", "-", "--invite", "--json", stdin=rows)

    assert done.returncode == ExitCode.REFUSED
    assert json.loads(done.stdout)["invited"] == 1
    queued = portal.mail.list(System(vendor_id=portal.default_vendor().id))
    assert [m.to for m in queued] == ["anna@hgz.example"]


def test_export_writes_csv_with_formulas_defused(run: Run, tmp_path: Path) -> None:
    run("import", "customers", "-", stdin=MIXED)
    out = tmp_path / "out.csv"

    to_file = run("export", "customers", "--output", str(out))
    to_stdout = run("export", "customers")

    assert to_file.returncode == to_stdout.returncode == ExitCode.OK
    assert out.read_text(encoding="utf-8") == to_stdout.stdout
    rows = {r["code"]: r for r in csv.DictReader(io.StringIO(to_stdout.stdout))}
    assert rows["ACME"]["name"] == "'=cmd|' /C calc'!A0"
    assert sorted(rows) == ["ACME", "HGZ"]
    assert "2 row(s) written" in to_file.stderr
