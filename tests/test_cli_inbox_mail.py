"""``portalkit inbox list`` and ``portalkit mail status``, run as an operator runs them, on a
real SQLite file: through click's CliRunner (the ``main()`` the installed command calls) and a
real ``python -m portalkit`` subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import portalkit as portalkit_package
from portalkit import Portal, PortalSettings
from portalkit.cli import portalkit
from portalkit.cli._app import ExitCode
from portalkit.testing import World

MAIL_FROM = "portal@vendor.example"
SRC = Path(portalkit_package.__file__).resolve().parent.parent

Run = Callable[..., Result]


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'portal.db'}"


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> Iterator[Run]:
    """``run(*args, **env)``: the command line with PORTALKIT_DATABASE_URL on the tmp file."""
    for name in list(os.environ):
        if name.startswith("PORTALKIT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env of the repository
    runner = CliRunner()

    def run(*args: str, **env: str) -> Result:
        full = {
            "PORTALKIT_DATABASE_URL": db_url,
            "PORTALKIT_MAIL_FROM": MAIL_FROM,
            **{f"PORTALKIT_{k.upper()}": v for k, v in env.items()},
        }
        return runner.invoke(portalkit, list(args), env=full)

    yield run


def _portal(db_url: str, **settings: Any) -> Portal:
    return Portal.from_settings(
        PortalSettings(
            _env_file=None,
            database_url=db_url,
            mail_from=MAIL_FROM,
            mail_send_after_commit=False,
            **settings,
        )
    )


def _one_error_line(result: Result) -> str:
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


# -- inbox list ---------------------------------------------------------------------------------


def _inbox_world(db_url: str) -> dict[str, str]:
    """The default vendor's inbox: an order of ACME (taken by Pia), a ticket of OTHER (in
    progress), a registration (no customer); another vendor's order must never show."""
    portal = _portal(db_url)
    world = World(portal, vendor_code=portal.settings.default_vendor)
    acme = world.customer(code="ACME")
    other = world.customer(code="OTHER")
    portal.staff.add(world.staff, user_id="pia", name="Pia", email="pia@vendor.example")
    with portal.transaction() as uow:
        order = portal.inbox.file(
            uow,
            world.vendor.id,
            kind="order",
            title="Order O-1001",
            customer_id=acme.id,
            details={"number": "O-1001", "lines": 2},
        )
        ticket = portal.inbox.file(
            uow, world.vendor.id, kind="ticket", title="[urgent] Jacket torn", customer_id=other.id
        )
        registration = portal.inbox.file(
            uow, world.vendor.id, kind="registration", title="Tom Boer, Boer BV"
        )
    portal.inbox.assign(world.staff, order.id, "pia")
    portal.inbox.set_status(world.staff, ticket.id, "in_progress")
    elsewhere = World(portal, vendor_code="elsewhere")
    with portal.transaction() as uow:
        portal.inbox.file(
            uow,
            elsewhere.vendor.id,
            kind="order",
            title="Order of another vendor",
            customer_id=elsewhere.customer(code="ACME").id,
            details={"number": "X-1"},
        )
    portal.close()
    return {"order": str(order.id), "ticket": str(ticket.id), "registration": str(registration.id)}


def test_inbox_list_shows_the_vendors_items_as_a_table(run: Run, db_url: str) -> None:
    _inbox_world(db_url)
    result = run("inbox", "list")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("Inbox")
    assert "O-1001" in out and "ACME" in out and "pia" in out
    assert "[urgent] Jacket torn" in out  # data, not rich markup
    assert "in_progress" in out and "registration" in out
    assert "another vendor" not in out and "X-1" not in out
    assert result.stderr == ""


def test_inbox_list_json_gives_every_field_newest_first(run: Run, db_url: str) -> None:
    ids = _inbox_world(db_url)
    result = run("inbox", "list", "--json")
    assert result.exit_code == 0, result.output
    items = json.loads(result.stdout)
    assert [i["id"] for i in items] == [ids["registration"], ids["ticket"], ids["order"]]
    order = items[2]
    assert set(order) == {
        "id",
        "kind",
        "number",
        "reference",
        "customer",
        "title",
        "status",
        "assignee",
        "created_at",
        "updated_at",
    }
    assert (order["kind"], order["number"], order["customer"], order["status"]) == (
        "order",
        "O-1001",
        "ACME",
        "new",
    )
    assert order["assignee"] == "pia"
    datetime.fromisoformat(order["created_at"])
    registration = items[0]
    # No number and no customer: the record's id stands in, the customer is empty.
    assert registration["number"] == registration["reference"] == ids["registration"]
    assert registration["customer"] == ""


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--status", "new"], {"order", "registration"}),
        (["--status", "in_progress"], {"ticket"}),
        (["--status", "new", "--status", "in_progress"], {"order", "registration", "ticket"}),
        (["--status", "done"], set()),
        (["--kind", "ticket"], {"ticket"}),
        (["--kind", "order", "--kind", "registration"], {"order", "registration"}),
        (["--customer", "ACME"], {"order"}),
        (["--customer", "OTHER", "--status", "new"], set()),
        (["--limit", "1"], {"registration"}),
    ],
)
def test_inbox_list_filters(run: Run, db_url: str, args: list[str], expected: set[str]) -> None:
    _inbox_world(db_url)
    result = run("inbox", "list", *args, "--json")
    assert result.exit_code == 0, result.output
    assert {i["kind"] for i in json.loads(result.stdout)} == expected


def test_an_empty_inbox_says_so(run: Run, db_url: str) -> None:
    _inbox_world(db_url)
    assert run("inbox", "list", "--status", "rejected").stdout == "Inbox: none\n"
    assert run("inbox", "list", "--status", "rejected", "--json").stdout == "[]\n"


def test_inbox_list_acts_in_the_vendor_it_is_given(run: Run, db_url: str) -> None:
    _inbox_world(db_url)
    result = run("inbox", "list", "--vendor", "elsewhere", "--operator", "jdoe", "--json")
    assert result.exit_code == 0, result.output
    assert [i["number"] for i in json.loads(result.stdout)] == ["X-1"]


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["--status", "lost"], ExitCode.USAGE, "'--status'"),
        (["--kind", "parcel"], ExitCode.USAGE, "'--kind'"),
        (["--limit", "0"], ExitCode.USAGE, "'--limit'"),
        (["--limit", "-3"], ExitCode.USAGE, "'--limit'"),
        (["--limit", "1001"], ExitCode.USAGE, "'--limit'"),
        (["--limit", "many"], ExitCode.USAGE, "'--limit'"),
        (["--operator", " "], ExitCode.USAGE, "'--operator'"),
        (["--customer", "NOPE"], ExitCode.REFUSED, "NOPE"),
        (["--vendor", "nobody"], ExitCode.REFUSED, "nobody"),
    ],
)
def test_inbox_list_bad_input_is_one_line_and_an_exit_code(
    run: Run, db_url: str, args: list[str], code: ExitCode, says: str
) -> None:
    _inbox_world(db_url)
    for extra in ([], ["--json"]):
        result = run("inbox", "list", *args, *extra)
        line = _one_error_line(result)
        assert result.exit_code == code, result.stderr
        assert line.startswith("portalkit") and says in line


# -- a real subprocess --------------------------------------------------------------------------


def _portalkit(tmp_path: Path, db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTALKIT_")}
    env.update(PORTALKIT_DATABASE_URL=db_url, PORTALKIT_MAIL_FROM=MAIL_FROM)
    # The portalkit under test, not an installed one: a relative PYTHONPATH breaks in tmp_path.
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "portalkit", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_installed_command_lists_the_inbox(tmp_path: Path, db_url: str) -> None:
    _inbox_world(db_url)
    done = _portalkit(tmp_path, db_url, "inbox", "list", "--kind", "order", "--json")
    assert done.returncode == 0, done.stderr
    assert [(i["number"], i["customer"]) for i in json.loads(done.stdout)] == [("O-1001", "ACME")]
    bad = _portalkit(tmp_path, db_url, "inbox", "list", "--status", "lost")
    assert (bad.returncode, bad.stdout) == (ExitCode.USAGE, "")
    assert len(bad.stderr.splitlines()) == 1
