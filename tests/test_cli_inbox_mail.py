"""``portalkit inbox list`` and ``portalkit mail status``, run as an operator runs them, on a
real SQLite file: through click's CliRunner (the ``main()`` the installed command calls) and a
real ``python -m portalkit`` subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from cryptography.fernet import Fernet

import portalkit as portalkit_package
from clirun import MAIL_FROM, Run
from portalkit import Portal, PortalSettings
from portalkit.cli._app import ExitCode
from portalkit.mail.base import PermanentMailError
from portalkit.mail.memory import MemoryMailer
from portalkit.testing import World

SRC = Path(portalkit_package.__file__).resolve().parent.parent


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


def _portalkit(
    tmp_path: Path, db_url: str, *args: str, key: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTALKIT_")}
    env.update(PORTALKIT_DATABASE_URL=db_url, PORTALKIT_MAIL_FROM=MAIL_FROM)
    if key:
        env["PORTALKIT_MAIL_ENCRYPTION_KEY"] = key
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


# -- mail status --------------------------------------------------------------------------------

KEY = Fernet.generate_key().decode()
SECRET = "https://portal.example/invite/TOKEN-s3cr3t-4711"


def _mail_world(db_url: str) -> dict[str, Any]:
    """The default vendor: two sent, one dead (its server refused it), two pending (one a
    secret invitation); another vendor: one pending."""
    portal = _portal(db_url, mail_encryption_key=KEY)
    mailer = MemoryMailer()
    portal.mailer = mailer
    world = World(portal, vendor_code=portal.settings.default_vendor)

    def queue(to: str, subject: str, **options: Any) -> Any:
        return portal.mail.enqueue(
            world.staff, to=to, subject=subject, text=options.pop("text", "Body"), **options
        )

    queue("a@customer.example", "Sent one")
    queue("b@customer.example", "Sent two")
    assert portal.mail.flush().sent == 2
    dead = queue("gone@customer.example", "[urgent] Invoice 7", text=f"Pay via {SECRET}")
    mailer.fail_with = PermanentMailError("550 5.1.1 <gone@customer.example>:\n mailbox unknown")
    assert portal.mail.flush().dead == 1
    mailer.fail_with = None
    first = queue("c@customer.example", "Welcome", text=f"Log in: {SECRET}", secret=True)
    queue("d@customer.example", "Reminder")
    elsewhere = World(portal, vendor_code="elsewhere")
    portal.mail.enqueue(elsewhere.staff, to="x@other.example", subject="Other", text="Body")
    portal.close()
    return {"dead": str(dead.id), "oldest_pending_at": first.created_at}


def test_mail_status_counts_the_queue_of_every_vendor(run: Run, db_url: str) -> None:
    facts = _mail_world(db_url)
    result = run("mail", "status", "--json", mail_encryption_key=KEY)
    assert result.exit_code == 0, result.output  # 0 although a message is dead: see the docs
    status = json.loads(result.stdout)
    by_vendor = {v["vendor"]: v for v in status["vendors"]}
    mine = by_vendor["default"]
    assert {k: mine[k] for k in ("pending", "sending", "sent", "dead")} == {
        "pending": 2,
        "sending": 0,
        "sent": 2,
        "dead": 1,
    }
    assert datetime.fromisoformat(mine["oldest_pending_at"]) == facts["oldest_pending_at"]
    assert 0 <= mine["oldest_pending_seconds"] < 600
    assert by_vendor["elsewhere"]["pending"] == 1 and by_vendor["elsewhere"]["dead"] == 0
    assert {k: status["total"][k] for k in ("pending", "sending", "sent", "dead")} == {
        "pending": 3,
        "sending": 0,
        "sent": 2,
        "dead": 1,
    }
    assert status["total"]["oldest_pending_at"] == mine["oldest_pending_at"]
    (dead,) = status["dead_messages"]
    assert dead == {
        "vendor": "default",
        "id": facts["dead"],
        "to": "gone@customer.example",
        "subject": "[urgent] Invoice 7",
        "kind": "custom",
        "attempts": 1,
        "created_at": dead["created_at"],
        "last_error": "550 5.1.1 <gone@customer.example>: mailbox unknown",
    }
    assert "TOKEN" not in result.stdout and "Body" not in result.stdout


def test_mail_status_as_a_table_names_each_dead_message_and_its_error(
    run: Run, db_url: str
) -> None:
    _mail_world(db_url)
    result = run("mail", "status", mail_encryption_key=KEY)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("Mail queue")
    assert "(all)" in out  # a total below the vendors
    assert "Dead mail" in out and "[urgent] Invoice 7" in out
    assert "550 5.1.1 <gone@customer.example>: mailbox" in out  # the table may fold the rest
    assert "TOKEN" not in out and "Body" not in out and "Pay via" not in out
    one = run("mail", "status", "--vendor", "elsewhere", mail_encryption_key=KEY)
    assert one.exit_code == 0 and "elsewhere" in one.stdout
    assert "(all)" not in one.stdout and "Dead mail" not in one.stdout


def test_mail_status_counts_past_one_page_and_limits_the_dead_it_shows(
    run: Run, db_url: str
) -> None:
    portal = _portal(db_url)
    mailer = MemoryMailer()
    portal.mailer = mailer
    world = World(portal, vendor_code=portal.settings.default_vendor)
    with portal.transaction():
        for i in range(1003):
            portal.mail.enqueue(world.staff, to=f"m{i}@c.example", subject=f"S{i}", text="Body")
    mailer.fail_with = PermanentMailError("refused")
    assert portal.mail.flush(batch=500).dead == 1003
    portal.close()
    status = json.loads(run("mail", "status", "--limit", "3", "--json").stdout)
    assert status["total"]["dead"] == 1003 and status["total"]["pending"] == 0
    assert status["total"]["oldest_pending_at"] is None
    assert [m["subject"] for m in status["dead_messages"]] == ["S1002", "S1001", "S1000"]


def test_an_empty_queue_has_no_oldest_message(run: Run, db_url: str) -> None:
    portal = _portal(db_url)
    World(portal, vendor_code=portal.settings.default_vendor)
    portal.close()
    status = json.loads(run("mail", "status", "--json").stdout)
    assert status["total"] == {
        "pending": 0,
        "sending": 0,
        "sent": 0,
        "dead": 0,
        "oldest_pending_at": None,
        "oldest_pending_seconds": None,
    }
    assert status["dead_messages"] == []
    assert "Mail queue" in run("mail", "status").stdout


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["--limit", "0"], ExitCode.USAGE, "'--limit'"),
        (["--limit", "1001"], ExitCode.USAGE, "'--limit'"),
        (["--vendor", "nobody"], ExitCode.REFUSED, "nobody"),
        (["--colour"], ExitCode.USAGE, "No such option"),
    ],
)
def test_mail_status_bad_input_is_one_line_and_an_exit_code(
    run: Run, db_url: str, args: list[str], code: ExitCode, says: str
) -> None:
    _portal(db_url).close()
    result = run("mail", "status", *args)
    assert result.exit_code == code and says in _one_error_line(result)


def test_the_installed_command_reports_the_mail_queue(tmp_path: Path, db_url: str) -> None:
    _mail_world(db_url)
    done = _portalkit(tmp_path, db_url, "mail", "status", "--json", key=KEY)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["total"]["dead"] == 1
    assert "TOKEN" not in done.stdout


def test_a_mail_servers_answer_cannot_drive_the_operators_terminal(run: Run, db_url: str) -> None:
    portal = _portal(db_url)
    mailer = MemoryMailer()
    portal.mailer = mailer
    world = World(portal, vendor_code=portal.settings.default_vendor)
    portal.mail.enqueue(world.staff, to="a@c.example", subject="Hello", text="Body")
    mailer.fail_with = PermanentMailError("550 \x1b]0;pwned\x07\x1b[2J refused\r\nfor good")
    assert portal.mail.flush().dead == 1
    portal.close()
    for args in (["mail", "status"], ["mail", "list", "--status", "dead"]):
        result = run(*args)
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.stdout and "\x07" not in result.stdout, args
        assert "refused" in result.stdout
    (dead,) = json.loads(run("mail", "status", "--json").stdout)["dead_messages"]
    assert dead["last_error"] == "550  ]0;pwned  [2J refused for good"


def test_stored_text_reaches_the_terminal_without_escape_sequences(run: Run, db_url: str) -> None:
    """Red team: an item's details come from integrations and customers; the table and the
    JSON must not pass ESC, C1 controls or bidi overrides on to the operator's terminal."""
    portal = _portal(db_url)
    world = World(portal, vendor_code=portal.settings.default_vendor)
    hostile = "\x1b]0;PWNED\x07\x1b[2J\x9b31m\u202eO-1\u2028"
    with portal.transaction() as uow:
        portal.inbox.file(
            uow, world.vendor.id, kind="order", title="Order", details={"number": hostile}
        )
    portal.close()
    for args in (["inbox", "list"], ["inbox", "list", "--json"]):
        result = run(*args)
        assert result.exit_code == 0, result.output
        for bad in ("\x1b", "\x07", "\x9b", "\u202e", "\u2028"):
            assert bad not in result.stdout, (args, bad)
    shown = json.loads(run("inbox", "list", "--json").stdout)
    assert shown[0]["number"] == hostile  # escaped in the JSON text, intact once parsed
