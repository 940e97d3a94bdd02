"""``portalkit events deliver``: the inbox's events to the host's consumer function."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from portalkit import Portal, PortalSettings
from portalkit.cli import portalkit
from portalkit.testing import World

CONSUMER = """
import json, pathlib

def take(event):
    with pathlib.Path(__file__).with_name("taken.jsonl").open("a") as out:
        out.write(json.dumps({"key": event.key, "status": event.payload["status"]}) + "\\n")
"""


def test_events_deliver_hands_every_event_to_the_named_consumer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith("PORTALKIT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "erp_hook.py").write_text(CONSUMER)
    monkeypatch.syspath_prepend(str(tmp_path))
    url = f"sqlite:///{tmp_path / 'portal.db'}"
    portal = Portal.from_settings(PortalSettings(_env_file=None, database_url=url))
    world = World(portal, vendor_code="acme")
    portal.inbox.register_kind("service_call")
    with portal.transaction() as uow:
        item = portal.inbox.file(uow, world.vendor.id, kind="service_call", title="Call back")
    portal.inbox.set_status(world.staff, item.id, "done")
    portal.close()
    env = {"PORTALKIT_DATABASE_URL": url}
    runner = CliRunner()
    result = runner.invoke(
        portalkit, ["events", "deliver", "--consumer", "erp_hook:take", "--json"], env=env
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"delivered": 2, "retrying": 0}
    taken = [json.loads(line) for line in (tmp_path / "taken.jsonl").read_text().splitlines()]
    assert taken == [
        {"key": f"{item.id}:1", "status": "new"},
        {"key": f"{item.id}:2", "status": "done"},
    ]
    again = runner.invoke(portalkit, ["events", "deliver", "--consumer", "erp_hook:take"], env=env)
    assert again.stdout == "portalkit: 0 delivered, 0 to retry\n"
    wrong = runner.invoke(portalkit, ["events", "deliver", "--consumer", "erp_hook:nope"], env=env)
    assert wrong.exit_code == 2 and "cannot load" in wrong.stderr
