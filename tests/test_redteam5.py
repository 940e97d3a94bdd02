"""Red team 5: attacks on today's documents, inbox, tickets, work requests and the rights
generation cache that found a weakness, each pinned by the test that shows it closed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from conftest import BACKENDS, make_storage
from portalkit import Portal
from portalkit.clock import FixedClock
from portalkit.mail import MemoryMailer
from portalkit.storage.sqlalchemy import SqlStorage
from portalkit.testing import World


class Undo(Exception):
    """The host's own failure, after portalkit's blocks have run."""


@pytest.fixture(params=[b for b in BACKENDS if b.id != "memory"])
def sql_world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """A world on SQL storage, where a host may join portalkit's transactions."""
    storage = make_storage(request.param, request, tmp_path)
    yield World(Portal(storage, MemoryMailer(), clock=FixedClock()))
    storage.close()


def test_rights_read_in_a_rolled_back_host_transaction_are_never_reused(
    sql_world: World,
) -> None:
    """A host transaction joined by two portalkit blocks: the first moves another company
    under the member's umbrella, the second checks the member's session (reading the
    uncommitted tree and the generation number the move drew), then the host rolls
    everything back. The number comes round again with the next committed change of
    anything else; the move that never was must not come back with it."""
    world = sql_world
    portal = world.portal
    storage = portal.storage
    assert isinstance(storage, SqlStorage)
    umbrella, rival, third = world.customer(), world.customer(), world.customer()
    profile = world.profile(capabilities={"documents.view"}, scopes={"documents": "tree"})
    membership = world.membership(customer=umbrella, profile=profile)
    session_value = portal.auth.session(world.member(membership))
    ctx = portal.auth.session_context(world.vendor, session_value)
    assert ctx.reach("documents") == {umbrella.id}

    with pytest.raises(Undo), Session(storage.engine) as host:
        with portal.transaction(session=host):
            portal.customers.update(world.staff, rival, parent=umbrella)
        with portal.transaction(session=host):
            inside = portal.auth.session_context(world.vendor, session_value)
            assert rival.id in inside.reach("documents")  # the host's uncommitted view
        raise Undo  # the host's transaction rolls back: the move never happened

    # The next committed change of the vendor's rights (one: a site of a third customer).
    world.location(third)
    ctx = portal.auth.session_context(world.vendor, session_value)
    assert ctx.reach("documents") == {umbrella.id}
    assert portal.customers.get(world.staff, rival).parent_id is None
