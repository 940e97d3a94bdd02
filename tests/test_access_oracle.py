"""Random worlds against a small oracle written from the rules, not from the code.

The worlds are the conformance check's (:mod:`portalkit.testing.conformance`): two vendors
with customer trees, locations, profiles and members (main, extra and plain; active or not;
with grants), built through the public API, and its rows for each world. For every member the
access context's filter must equal the oracle's answer, in Python and in SQL alike; nothing is
ever visible across customers or vendors unless a rule grants it. On the same worlds, the
conformance check itself (can() against both filters, redaction) runs for both resource types.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from sqlalchemy import Column, MetaData, String, Table, Uuid, create_engine, select, text
from sqlalchemy.orm import Session

from portalkit import Portal, ResourceType
from portalkit.mail import MemoryMailer
from portalkit.storage.base import TABLES
from portalkit.storage.memory import MemoryStorage
from portalkit.testing.conformance import RowRequest, build, check_world, requests, worlds

host = MetaData()
orders_table = Table(
    "orders",
    host,
    Column("id", Uuid, primary_key=True),
    Column("customer_id", Uuid, nullable=False),
    Column("location_id", Uuid),
    Column("owner_id", Uuid),
    Column("amount", String(10)),
)
ORDERS = ResourceType(
    "orders",
    view="orders.view",
    location_field="location_id",
    owner_field="owner_id",
    sensitive={"amount": "prices.view"},
    model=orders_table,
)
INVOICES = ResourceType("invoices", view="invoices.view", model=orders_table)


def _row(request: RowRequest) -> dict[str, Any]:
    return {"id": uuid.uuid4(), "amount": "1", **request.fields}


# -- the oracle: the rules in words, per record --------------------------------------------
def oracle_sees(world: dict[str, Any], v: int, m: int, record: dict[str, Any], kind: str) -> bool:
    vendor = world["vendors"][v]
    member = vendor["members"][m]
    customers = vendor["customers"]
    if record["vendor"] != v:
        return False  # nothing ever crosses vendors
    if member["status"] != "active" or not member["account_active"]:
        return False
    if not customers[member["home"]]["active"]:
        return False
    if member["kind"] == "extra":
        main = next(
            x for x in vendor["members"] if x["kind"] == "main" and x["home"] == member["home"]
        )
        if main["status"] != "active" or not main["account_active"]:
            return False
    if member["profile"] is None:
        return False
    profile = vendor["profiles"][member["profile"]]
    if f"{kind}.view" not in profile["caps"]:
        return False
    scope = profile["scopes"].get(kind, "customer")  # both resource types default to customer

    def reachable(c: int) -> bool:  # c is the home, or below it through active customers only
        while c != member["home"]:
            if not customers[c]["active"] or customers[c]["parent"] is None:
                return False
            c = customers[c]["parent"]
        return True

    c = record["customer"]
    if scope == "tree":
        allowed = reachable(c)
    elif scope == "own":
        allowed = c == member["home"]
    else:
        allowed = c == member["home"] or (c in member["grants"] and reachable(c))
    if not allowed:
        return False
    has_location = has_owner = kind == "orders"  # invoices declare neither field
    if scope == "own" and (not has_owner or record["owner"] != (v, m)):
        return False
    limited = bool(member["location_grants"]) or scope == "location"
    if has_location and limited:
        place = record["location"]
        if place is None or place not in member["location_grants"]:
            return False
        owner, _ = place
        if not customers[owner]["locations"][place[1]]:
            return False  # a deactivated location stops counting
        near = {member["home"], *[g for g in member["grants"] if reachable(g)]}
        if owner not in near:
            return False
    # A location scope on records without a location can show nothing.
    return has_location or scope != "location"


def _vendor(customers: list[Any], profiles: list[Any], members: list[Any]) -> dict[str, Any]:
    return {"customers": customers, "profiles": profiles, "members": members}


def _member(home: int, kind: str = "member", **fields: Any) -> dict[str, Any]:
    return {
        "home": home,
        "kind": kind,
        "status": "active",
        "account_active": True,
        "profile": 0,
        "grants": [],
        "location_grants": {},
        **fields,
    }


_TREE = [
    {"caps": {"orders.view", "invoices.view"}, "scopes": {"orders": "tree", "invoices": "tree"}}
]
# Known hard cases, always tried: an inactive customer in the middle of a tree hides the
# customers below it too; an extra account stops with its main account.
_INACTIVE_MIDDLE = {
    "vendors": [
        _vendor(
            [
                {"parent": None, "active": True, "locations": [True]},
                {"parent": 0, "active": False, "locations": [True]},
                {"parent": 1, "active": True, "locations": []},
            ],
            _TREE,
            [
                _member(0, "main"),
                _member(0, "extra", grants=[1, 2], location_grants={(1, 0): "write"}),
            ],
        ),
        _vendor([{"parent": None, "active": True, "locations": []}], _TREE, [_member(0)]),
    ]
}
_EXTRA_UNDER_DISABLED_MAIN = {
    "vendors": [
        _vendor(
            [{"parent": None, "active": True, "locations": [False]}],
            _TREE,
            [
                _member(0, "main", status="disabled"),
                _member(0, "extra", location_grants={(0, 0): "read"}),
            ],
        ),
        _vendor(
            [{"parent": None, "active": True, "locations": []}],
            _TREE,
            [_member(0, "main", account_active=False), _member(0, "extra")],
        ),
    ]
}


def _storage(kind: str, request: pytest.FixtureRequest) -> Any:
    from portalkit.storage.sqlalchemy import SqlStorage

    if kind == "memory":
        return MemoryStorage()
    if kind == "sqlite":
        folder = Path(tempfile.mkdtemp())
        shutil.copy(request.getfixturevalue("sqlite_template"), folder / "w.db")
        return SqlStorage(f"sqlite:///{folder / 'w.db'}")
    storage = SqlStorage(request.getfixturevalue("pg_url"))
    with storage.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} CASCADE"))
    return storage


@pytest.mark.parametrize(
    "kind", ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_random_worlds_match_the_oracle(kind: str, request: pytest.FixtureRequest) -> None:
    examples = 60 if kind == "memory" else 20
    engine = create_engine("sqlite://")
    host.create_all(engine)

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @example(world=_INACTIVE_MIDDLE)
    @example(world=_EXTRA_UNDER_DISABLED_MAIN)
    @given(world=worlds(ORDERS, INVOICES))
    def check(world: dict[str, Any]) -> None:
        storage = _storage(kind, request)
        portal = Portal(storage, MemoryMailer())
        try:
            portal.access.register_resource(ORDERS)
            portal.access.register_resource(INVOICES)
            built = build(portal, world)
            records = []
            for r in requests(built, ORDERS):
                records.append(
                    {
                        **_row(r),
                        "vendor": r.vendor,
                        "customer": r.customer,
                        "location": r.location,
                        "owner": r.owner,
                    }
                )
            columns = [c.key for c in orders_table.c]
            with Session(engine) as session:
                session.execute(
                    orders_table.insert(), [{k: r[k] for k in columns} for r in records]
                )
                for v, vendor in enumerate(built.vendors):
                    for m, membership in enumerate(vendor.members):
                        ctx = portal.access.context(vendor.member(membership))
                        for resource in ("orders", "invoices"):
                            expected = {
                                r["id"] for r in records if oracle_sees(world, v, m, r, resource)
                            }
                            in_python = {r["id"] for r in ctx.filter(records, resource)}
                            assert in_python == expected, (
                                v,
                                m,
                                resource,
                                ctx.explain(f"{resource}.view"),
                            )
                            query = ctx.filter(select(orders_table.c.id), resource)
                            assert set(session.scalars(query)) == expected
                session.rollback()
                for resource in ("orders", "invoices"):
                    check_world(built, resource, session=session, make_row=_row)
        finally:
            storage.close()

    check()
    engine.dispose()
