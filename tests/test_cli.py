"""The ``portalkit`` command, run as operators run it, on a real SQLite file.

Through click's CliRunner (the same ``main()`` the installed command calls) and, for the module
and console-script entry points, a real subprocess. Settings come only from the environment
each test sets: no ``PORTALKIT_*`` of the machine, and no ``.env`` (the tests run in a tmp
folder).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import click
import pytest
from click.testing import Result
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, inspect

from clirun import MAIL_FROM, Run
from portalkit import Portal, PortalSettings
from portalkit.cli import GROUPS, portalkit
from portalkit.cli._app import MEANINGS, ExitCode
from portalkit.storage.base import TABLES
from portalkit.testing import World

DOCS = Path(__file__).parent.parent / "docs" / "cli.md"


def _queue(db_url: str, subjects: list[str]) -> None:
    """Queue one message per subject in the database, as the application would."""
    settings = PortalSettings(
        _env_file=None, database_url=db_url, mail_from=MAIL_FROM, mail_send_after_commit=False
    )
    portal = Portal.from_settings(settings)
    world = World(portal, vendor_code="acme")
    with portal.transaction():
        for i, subject in enumerate(subjects):
            portal.mail.enqueue(
                world.staff, to=f"m{i}@customer.example", subject=subject, text="Body"
            )
    portal.close()


def _one_error_line(result: Result) -> str:
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


# -- db upgrade ---------------------------------------------------------------------------------


def test_db_upgrade_creates_the_schema(run: Run, db_url: str) -> None:
    result = run("db", "upgrade")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"portalkit: schema of {db_url} is up to date\n"
    engine = create_engine(db_url)
    with engine.connect() as conn:
        assert set(TABLES) <= set(inspect(conn).get_table_names())
    engine.dispose()


def test_db_upgrade_url_option_beats_the_environment(run: Run, tmp_path: Path) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}"
    result = run("db", "upgrade", "--url", other, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"database": other, "schema": "up to date"}
    assert (tmp_path / "other.db").exists()
    assert not (tmp_path / "portal.db").exists()


# -- mail ---------------------------------------------------------------------------------------


def test_mail_flush_delivers_every_queued_message(run: Run, db_url: str, tmp_path: Path) -> None:
    _queue(db_url, [f"Message {i}" for i in range(5)])
    outbox = tmp_path / "mail"
    # Batches of two: the command goes on until nothing is due, not just one batch.
    result = run("mail", "flush", "--batch", "2", mail_backend="file", mail_file_dir=str(outbox))
    assert result.exit_code == 0, result.output
    assert result.stdout == "portalkit: 5 sent, 0 to retry, 0 dead, 0 requests handled\n"
    subjects = sorted(
        line.removeprefix("Subject: ")
        for eml in outbox.glob("*.eml")
        for line in eml.read_text().splitlines()
        if line.startswith("Subject: ")
    )
    assert subjects == [f"Message {i}" for i in range(5)]
    again = run("mail", "flush", "--json", mail_backend="file", mail_file_dir=str(outbox))
    assert json.loads(again.stdout) == {"sent": 0, "retrying": 0, "dead": 0, "jobs": 0}


def test_mail_flush_json_counts_what_it_sent(run: Run, db_url: str, tmp_path: Path) -> None:
    _queue(db_url, ["One", "Two", "Three"])
    result = run("mail", "flush", "--json", mail_backend="file", mail_file_dir=str(tmp_path))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"sent": 3, "retrying": 0, "dead": 0, "jobs": 0}


def test_the_progress_bar_goes_to_stderr_only(
    run: Run, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _queue(db_url, ["One", "Two", "Three"])
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich draws as on a terminal
    result = run("mail", "flush", mail_backend="file", mail_file_dir=str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "delivering mail" in result.stderr
    assert result.stdout == "portalkit: 3 sent, 0 to retry, 0 dead, 0 requests handled\n"


def test_mail_worker_prints_one_json_line_a_round(run: Run, db_url: str, tmp_path: Path) -> None:
    _queue(db_url, ["One", "Two"])
    result = run(
        "mail",
        "worker",
        "--rounds",
        "2",
        "--interval",
        "0",
        "--json",
        mail_backend="file",
        mail_file_dir=str(tmp_path),
    )
    assert result.exit_code == 0, result.output
    rounds = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["sent"] for r in rounds] == [2, 0]


def test_mail_list_shows_the_queue_as_a_table_and_as_json(run: Run, db_url: str) -> None:
    _queue(db_url, ["[urgent] Invoice 7", "Welcome"])
    table = run("mail", "list", "--status", "pending")
    assert table.exit_code == 0, table.output
    assert "[urgent] Invoice 7" in table.stdout  # data, not rich markup
    assert "m1@customer.example" in table.stdout
    assert "pending" in table.stdout
    listed = json.loads(run("mail", "list", "--vendor", "acme", "--json").stdout)
    assert sorted(m["subject"] for m in listed) == ["Welcome", "[urgent] Invoice 7"]
    assert {m["vendor"] for m in listed} == {"acme"}
    assert set(listed[0]) == {
        "vendor",
        "id",
        "to",
        "subject",
        "kind",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
    }  # never the bodies
    assert json.loads(run("mail", "list", "--status", "dead", "--json").stdout) == []
    assert run("mail", "list", "--status", "sent").stdout == "Queued mail: none\n"


def test_mail_new_key_prints_a_working_key(run: Run) -> None:
    line = run("mail", "new-key").stdout
    plain = Fernet(line.strip().encode()).decrypt(Fernet(line.strip().encode()).encrypt(b"x"))
    assert plain == b"x"
    as_json = json.loads(run("mail", "new-key", "--json").stdout)
    assert set(as_json) == {"key"} and len(Fernet(as_json["key"]).encrypt(b"x")) > 0
    assert as_json["key"] != line.strip()


# -- bad input: one line on stderr, nothing on stdout, the documented exit code ----------------


@pytest.mark.parametrize(
    ("args", "env", "code", "says"),
    [
        (["nope"], {}, ExitCode.USAGE, "No such command 'nope'"),
        (["mail", "nope"], {}, ExitCode.USAGE, "portalkit mail: No such command 'nope'"),
        (["mail", "flush", "--batch", "0"], {}, ExitCode.USAGE, "'--batch'"),
        (["mail", "list", "--status", "lost"], {}, ExitCode.USAGE, "'--status'"),
        (["db", "upgrade", "--colour"], {}, ExitCode.USAGE, "No such option '--colour'"),
        (["mail", "flush"], {"database_url": "nonsense"}, ExitCode.SETTINGS, "DATABASE_URL"),
        (["mail", "flush"], {"mail_backend": "pigeon"}, ExitCode.SETTINGS, "MAIL_BACKEND"),
        (["mail", "list", "--vendor", "nobody"], {}, ExitCode.REFUSED, "nobody"),
        (["mail", "list", "--limit", "5000"], {}, ExitCode.REFUSED, "limit"),
        (
            ["db", "upgrade", "--url", "sqlite:////nonexistent-dir/x/portal.db"],
            {},
            ExitCode.UNAVAILABLE,
            "database",
        ),
    ],
)
def test_bad_input_is_one_line_and_an_exit_code(
    run: Run, db_url: str, args: list[str], env: dict[str, str], code: ExitCode, says: str
) -> None:
    _queue(db_url, ["One"])  # a vendor whose queue the limit is checked on
    result = run(*args, **env)
    line = _one_error_line(result)
    assert result.exit_code == code
    assert line.startswith("portalkit")
    assert says in line


def test_a_bad_setting_is_reported_in_json_mode_the_same_way(run: Run) -> None:
    result = run("mail", "flush", "--json", database_url="nonsense")
    assert result.exit_code == ExitCode.SETTINGS
    assert "PORTALKIT_DATABASE_URL" in _one_error_line(result)


def test_a_group_without_its_command_shows_its_help(run: Run) -> None:
    result = run("mail")
    assert result.exit_code == ExitCode.USAGE
    assert result.stdout == ""
    assert "new-key" in result.stderr


# -- help and docs ------------------------------------------------------------------------------


def _commands() -> list[tuple[str, click.Command]]:
    """(path, command) of every command under ``portalkit``, groups included."""
    found: list[tuple[str, click.Command]] = []

    def walk(path: str, command: click.Command) -> None:
        found.append((path, command))
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(f"{path} {name}", sub)

    walk("portalkit", portalkit)
    return found


def test_help_lists_every_command(run: Run) -> None:
    top = run("--help")
    assert top.exit_code == 0
    for group in GROUPS:
        assert re.search(rf"^  {group.name}  ", top.stdout, re.M), group.name
        listing = run(group.name or "", "--help").stdout
        for name in group.commands:
            assert re.search(rf"^  {name}\s+\S", listing, re.M), name
    for code, meaning in MEANINGS.items():
        assert f"{code.value:<5}{meaning}" in top.stdout


def test_the_commands_of_earlier_versions_keep_their_names() -> None:
    paths = {path for path, _ in _commands()}
    assert {
        "portalkit db upgrade",
        "portalkit mail flush",
        "portalkit mail worker",
        "portalkit mail new-key",
    } <= paths
    options = {path: {p.opts[0] for p in c.params} for path, c in _commands()}
    assert {"--url"} <= options["portalkit db upgrade"]
    assert {"--batch"} <= options["portalkit mail flush"]
    assert {"--interval", "--rounds", "--batch"} <= options["portalkit mail worker"]


def test_every_command_and_option_is_explained_with_an_example(run: Run) -> None:
    for path, command in _commands():
        assert command.help, path
        assert command.epilog and "Examples:" in command.epilog, path
        examples = command.epilog.split("Examples:")[1]
        assert path in examples, path  # an example of this very command
        for param in command.params:
            if isinstance(param, click.Option) and param.name != "help":
                assert param.help and "e.g. " in param.help, f"{path} {param.opts}"
        result = run(*path.split()[1:], "--help")
        assert result.exit_code == 0, path
        assert path in result.stdout


def test_the_cli_page_documents_every_command_option_and_exit_code() -> None:
    page = DOCS.read_text(encoding="utf-8")
    for path, command in _commands():
        assert f"`{path}" in page, path
        for param in command.params:
            if isinstance(param, click.Option) and param.name != "help":
                assert param.opts[0] in page, f"{path} {param.opts[0]}"
    for code, meaning in MEANINGS.items():
        assert f"| {code.value} | {meaning} |" in page, code


# -- entry points -------------------------------------------------------------------------------


def test_python_dash_m_portalkit_runs_the_cli(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTALKIT_")}
    env["PORTALKIT_DATABASE_URL"] = f"sqlite:///{tmp_path / 'm.db'}"
    for module in ("portalkit", "portalkit.cli"):
        done = subprocess.run(
            [sys.executable, "-m", module, "db", "upgrade", "--json"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["schema"] == "up to date"
        bad = subprocess.run(
            [sys.executable, "-m", module, "nope"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert (bad.returncode, bad.stdout) == (ExitCode.USAGE, "")
        assert len(bad.stderr.splitlines()) == 1


def test_ctrl_c_stops_the_worker_with_status_0(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTALKIT_")}
    env.update(
        PORTALKIT_DATABASE_URL=f"sqlite:///{tmp_path / 'w.db'}",
        PORTALKIT_MAIL_BACKEND="file",
        PORTALKIT_MAIL_FILE_DIR=str(tmp_path / "mail"),
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "portalkit", "mail", "worker", "--interval", "60"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert worker.stdout is not None
    first = worker.stdout.readline()  # the first round is done; it now sleeps
    worker.send_signal(signal.SIGINT)
    rest, err = worker.communicate(timeout=60)
    assert first == "portalkit: 0 sent, 0 to retry, 0 dead, 0 requests handled\n"
    assert (worker.returncode, rest, err) == (0, "", "")


def test_the_console_script_is_portalkit_cli_main(capsys: pytest.CaptureFixture[str]) -> None:
    (script,) = entry_points(group="console_scripts", name="portalkit")
    main = script.load()
    assert main(["mail", "new-key", "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"key"}
    assert main(["mail", "nope"]) == ExitCode.USAGE


# -- access review ------------------------------------------------------------------------------


def _review_world(db_url: str) -> None:
    settings = PortalSettings(_env_file=None, database_url=db_url, mail_from=MAIL_FROM)
    portal = Portal.from_settings(settings)
    # The vendor the command works in by default.
    world = World(portal, vendor_code=portal.settings.default_vendor)
    acme = world.customer(code="ACME")
    anna = world.membership(
        customer=acme,
        account=world.account(username="anna"),
        profile=world.profile(capabilities={"invoices.view"}),
    )
    world.membership(customer=world.customer(code="OTHER"), profile=world.profile())
    portal.memberships.deactivate(world.staff, anna)
    portal.close()


def test_access_review_lists_effective_rights_as_table_json_and_csv(run: Run, db_url: str) -> None:
    _review_world(db_url)
    table = run("access", "review", "--customer", "ACME")
    assert table.exit_code == 0 and "anna" in table.stdout and "OTHER" not in table.stdout
    rows = json.loads(run("access", "review", "--json").stdout)
    assert sorted(r["customer_code"] for r in rows) == ["ACME", "OTHER"]
    anna = next(r for r in rows if r["username"] == "anna")
    assert anna["capabilities"] == [] and anna["denied"]  # switched off: nothing, and why
    lines = run("access", "review", "--csv").stdout.splitlines()
    assert lines[0].startswith("customer_code,") and len(lines) == 3
    said = run("access", "explain", "--customer", "ACME", "--login", "anna", "invoices.view")
    assert said.exit_code == 0 and said.stdout.strip()


def test_access_review_of_an_unknown_customer_is_one_line(run: Run, db_url: str) -> None:
    _review_world(db_url)
    result = run("access", "review", "--customer", "NOPE")
    assert result.exit_code != 0 and "NOPE" in _one_error_line(result)
