"""``portalkit customer`` and ``portalkit member``, run as an operator runs them: the real
command in a subprocess, on an SQLite file, with settings from the environment only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from portalkit import Portal, PortalSettings, System
from portalkit.cli._app import ExitCode

Cli = Callable[..., subprocess.CompletedProcess[str]]

SRC = Path(__file__).parent.parent / "src"

TOML = """\
code = "ACME"
name = "Acme Workwear B.V."
erp_reference = "D-1001"

[[addresses]]
street = "Kade 1"
postal_code = "1011 AA"
city = "Amsterdam"
country = "NL"
default_delivery = true

[[locations]]
name = "Depot"
code = "DEP"

[[locations]]
name = "Office"
address = { street = "Weg 2", postal_code = "1012 BB", city = "Amsterdam" }

[settings]
approval_above = "500.00"
notification_defaults = ["jobs", "invoices"]

[admin]
username = "acme-admin"
email = "it@acme.example"
"""


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'portal.db'}"


@pytest.fixture
def cli(tmp_path: Path, db_url: str) -> Cli:
    """``cli(*args)``: ``python -m portalkit ARGS`` in a tmp folder, on the tmp database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTALKIT_")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]),
        PORTALKIT_DATABASE_URL=db_url,
        PORTALKIT_MAIL_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        PORTALKIT_MAIL_FROM="portal@vendor.example",
        # Queued, not delivered: the tests read the queue.
        PORTALKIT_MAIL_SEND_AFTER_COMMIT="false",
        PORTALKIT_MAIL_BACKEND="memory",
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "portalkit", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run


def _json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


def _portal(db_url: str) -> Portal:
    return Portal.from_settings(PortalSettings(_env_file=None, database_url=db_url))


def test_provision_from_a_toml_file_creates_the_environment_and_prints_the_summary(
    cli: Cli, tmp_path: Path
) -> None:
    (tmp_path / "acme.toml").write_text(TOML)
    done = cli("customer", "provision", "--file", "acme.toml", "--operator", "jdoe")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "Created customer ACME (Acme Workwear B.V.)"
    assert "  Step copy_settings: skipped" in lines
    assert "  Locations: Depot, Office" in lines
    assert "  Customer admin: acme-admin <it@acme.example>, profile Customer admin" in lines
    assert any(line.startswith("  Invitation queued to it@acme.example") for line in lines)

    text = cli("customer", "show", "ACME").stdout.splitlines()
    assert "  Orders waiting for approval: above 500.00" in text
    assert "  Notifications for new logins: invoices, jobs" in text
    shown = _json(cli("customer", "show", "ACME", "--json"))
    assert shown["erp_reference"] == "D-1001"
    assert sorted(shown["settings"]["notification_defaults"]) == ["invoices", "jobs"]
    assert [a["city"] for a in shown["addresses"]] == ["Amsterdam"]
    assert sorted(s["name"] for s in shown["locations"]) == ["Depot", "Office"]
    logins = _json(cli("member", "list", "--customer", "ACME", "--json"))
    assert [(m["username"], m["kind"], m["status"]) for m in logins] == [
        ("acme-admin", "main", "invited")
    ]
    queued = _json(cli("mail", "list", "--json"))
    assert [(m["to"], m["kind"]) for m in queued] == [("it@acme.example", "invitation")]


def test_provision_with_options_and_json_and_a_dry_run_that_writes_nothing(cli: Cli) -> None:
    args = ["--code", "BETA", "--name", "Beta", "--admin-username", "beta-admin"]
    args += ["--admin-email", "it@beta.example", "--operator", "jdoe"]
    dry = _json(cli("customer", "provision", *args, "--dry-run", "--json"))
    assert dry["dry_run"] is True and dry["customer"]["code"] == "BETA"
    assert dry["admin"]["username"] == "beta-admin"
    assert [s["status"] for s in dry["steps"]] == [
        "done",
        "done",
        "skipped",
        "skipped",
        "done",
        "done",
        "done",
    ]
    assert _json(cli("customer", "list", "--json")) == []
    assert _json(cli("mail", "list", "--json")) == []

    real = _json(cli("customer", "provision", *args, "--json"))
    assert real["dry_run"] is False
    assert real["invitation"]["email"] == "it@beta.example"
    assert [c["code"] for c in _json(cli("customer", "list", "--json"))] == ["BETA"]


def test_a_failed_provision_is_one_line_with_its_step_and_leaves_nothing(
    cli: Cli, tmp_path: Path
) -> None:
    (tmp_path / "acme.toml").write_text(TOML)
    assert cli("customer", "provision", "--file", "acme.toml", "--operator", "a").returncode == 0
    # The same admin username for another customer: refused before anything is written.
    again = cli(
        "customer", "provision", "--file", "acme.toml", "--code", "ACME2", "--operator", "a"
    )
    assert again.returncode == ExitCode.REFUSED
    line = _one_error_line(again)
    assert line.startswith("portalkit: provisioning stopped at the step check the input")
    assert "admin.username: is taken by another login" in line
    assert [c["code"] for c in _json(cli("customer", "list", "--json"))] == ["ACME"]
    # A part that cannot be copied: refused at "check the input", nothing written.
    copy = cli(
        "customer",
        "provision",
        "--code",
        "C",
        "--name",
        "C",
        "--copy-from",
        "ACME",
        "--copy-part",
        "colours",
        "--operator",
        "a",
    )
    assert copy.returncode == ExitCode.REFUSED
    assert "'colours' is not a part that can be copied" in _one_error_line(copy)
    # A file key that is no field, a file that is not there.
    (tmp_path / "bad.json").write_text(json.dumps({"code": "X", "name": "X", "colour": "red"}))
    bad = cli("customer", "provision", "--file", "bad.json", "--operator", "a")
    assert bad.returncode == ExitCode.REFUSED
    assert "colour: is not a provisioning field" in _one_error_line(bad)
    gone = cli("customer", "provision", "--file", "gone.toml", "--operator", "a")
    assert gone.returncode == ExitCode.USAGE
    assert "cannot read gone.toml" in _one_error_line(gone)
    assert [c["code"] for c in _json(cli("customer", "list", "--json"))] == ["ACME"]
    assert len(_json(cli("mail", "list", "--json"))) == 1


def test_customer_create_list_show_deactivate_and_reactivate(cli: Cli) -> None:
    made = cli("customer", "create", "ACME", "--name", "Acme B.V.", "--operator", "jdoe")
    assert (made.returncode, made.stdout) == (0, "created customer ACME (Acme B.V.)\n")
    args = ["ACME-N", "--name", "Acme Noord", "--parent", "ACME", "--erp-reference", "D-2"]
    child = _json(cli("customer", "create", *args, "--operator", "jdoe", "--json"))
    assert (child["code"], child["parent"], child["erp_reference"]) == ("ACME-N", "ACME", "D-2")
    taken = cli("customer", "create", "acme", "--name", "Again", "--operator", "jdoe")
    assert taken.returncode == ExitCode.REFUSED
    assert "taken" in _one_error_line(taken)

    table = cli("customer", "list")
    assert table.returncode == 0
    assert "Acme Noord" in table.stdout and "ERP reference" in table.stdout
    listed = _json(cli("customer", "list", "--json"))
    assert [(c["code"], c["parent"], c["active"]) for c in listed] == [
        ("ACME", None, True),
        ("ACME-N", "ACME", True),
    ]
    off = _json(cli("customer", "deactivate", "ACME-N", "--operator", "jdoe", "--json"))
    assert off == {"code": "ACME-N", "active": False}
    inactive = _json(cli("customer", "list", "--inactive", "--json"))
    assert [c["code"] for c in inactive] == ["ACME-N"]
    on = cli("customer", "reactivate", "ACME-N", "--operator", "jdoe")
    assert on.stdout == "customer ACME-N is switched on\n"
    shown = cli("customer", "show", "ACME-N")
    assert shown.stdout.startswith("ACME-N: Acme Noord\n")
    assert "  Parent: ACME" in shown.stdout.splitlines()
    assert "  Notifications for new logins: none" in shown.stdout.splitlines()
    missing = cli("customer", "show", "NOPE")
    assert missing.returncode == ExitCode.REFUSED
    assert "NOPE not found" in _one_error_line(missing)


def test_the_operator_is_required_and_named_in_the_audit_log(cli: Cli, db_url: str) -> None:
    anonymous = cli("customer", "create", "ACME", "--name", "Acme")
    assert anonymous.returncode == ExitCode.USAGE
    assert "Missing option '--operator'" in _one_error_line(anonymous)
    blank = cli("customer", "create", "ACME", "--name", "Acme", "--operator", "a\tb")
    assert blank.returncode == ExitCode.USAGE
    assert cli("customer", "list", "--vendor", "nope").returncode == ExitCode.REFUSED

    assert cli("customer", "create", "ACME", "--name", "Acme", "--operator", "jdoe").returncode == 0
    portal = _portal(db_url)
    vendor = portal.default_vendor()
    events = portal.audit.list(System(vendor_id=vendor.id))
    assert [(e.action, e.real_actor) for e in events] == [
        ("customer_created", "system:operator jdoe (portalkit command line)")
    ]
    portal.close()


def test_member_invite_list_disable_enable_and_reset_password(cli: Cli) -> None:
    assert cli("customer", "create", "ACME", "--name", "Acme", "--operator", "op").returncode == 0
    person = ["--email", "tom@acme.example", "--first-name", "Tom", "--last-name", "Boer"]
    invited = _json(
        cli(
            "member",
            "invite",
            "--customer",
            "ACME",
            *person,
            "--kind",
            "main",
            "--operator",
            "op",
            "--json",
        )
    )
    assert (invited["username"], invited["status"], invited["kind"]) == ("tom", "invited", "main")
    table = cli("member", "list", "--customer", "ACME")
    assert "Tom Boer" in table.stdout and "invited" in table.stdout
    again = cli("member", "reset-password", "tom", "--customer", "ACME", "--operator", "op")
    assert again.stdout == "tom is invited: a new invitation is queued\n"

    off = cli("member", "disable", "tom", "--customer", "ACME", "--operator", "op")
    assert off.stdout == "tom at ACME: disabled\n"
    on = _json(cli("member", "enable", "tom", "--customer", "ACME", "--operator", "op", "--json"))
    assert on["status"] == "active"
    login = ["tom", "--customer", "ACME", "--operator", "op"]
    shown = _json(cli("member", "reset-password", *login, "--show", "--json"))
    assert len(shown["password"]) >= 12
    mailed = _json(
        cli("member", "reset-password", "tom", "--customer", "ACME", "--operator", "op", "--json")
    )
    assert mailed["password"] is None
    kinds = [m["kind"] for m in _json(cli("mail", "list", "--json"))]
    assert kinds.count("invitation") == 2 and len(kinds) >= 3
    listed = _json(cli("member", "list", "--customer", "ACME", "--status", "active", "--json"))
    assert [m["username"] for m in listed] == ["tom"]
    nobody = cli("member", "disable", "anna", "--customer", "ACME", "--operator", "op")
    assert nobody.returncode == ExitCode.REFUSED
    assert "anna not found" in _one_error_line(nobody)
