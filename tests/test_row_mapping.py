"""Every record the SQL backend stores reads back equal: record -> row -> record, any field values.

The records are drawn from their attrs fields' types, so a field added to a domain class is
covered at once (and a field type no strategy here knows fails the test rather than being
skipped). Each example is written in one transaction and read back in another, so the value
really passes through SQLite and its JSON columns.
"""

from __future__ import annotations

import enum
import shutil
import types
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Union, get_args, get_origin
from uuid import UUID, uuid4

import attrs
import pytest
from cattrs.errors import ForbiddenExtraKeysError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from portalkit.accesstokens.model import AccessToken
from portalkit.accounts import Account
from portalkit.assortments import Assortment
from portalkit.audit import AuditEvent
from portalkit.carts.model import Cart
from portalkit.catalogue import CatalogueItem, Category
from portalkit.customers import Branding, Contact, Customer, Location
from portalkit.devices import Device, DeviceModel
from portalkit.documents import Document
from portalkit.groups import CustomerGroup
from portalkit.inbox import InboxComment, InboxEvent, InboxItem
from portalkit.jobs import Job
from portalkit.memberships import Membership
from portalkit.orders.model import DeliveryAddress, Order
from portalkit.outbox import OutboxMessage
from portalkit.passkeys.model import Passkey
from portalkit.pricing import PriceList, PriceRule
from portalkit.profiles import PermissionProfile
from portalkit.quotes.model import Quote, QuoteMessage
from portalkit.registrations import Registration
from portalkit.secondfactor.model import SecondFactor, SecondFactorRule
from portalkit.sessions.model import SessionRecord
from portalkit.sso.model import SsoAttempt, SsoConfig, SsoDomain
from portalkit.staff import InboxAddress, StaffMember
from portalkit.storage.base import TABLES
from portalkit.storage.sqlalchemy import SqlStorage
from portalkit.tickets import Ticket, TicketAttachment
from portalkit.tokens import Token
from portalkit.vendors import Vendor
from portalkit.workrequests import WorkRequest

RECORDS: dict[str, type] = {
    "vendors": Vendor,
    "profiles": PermissionProfile,
    "customers": Customer,
    "locations": Location,
    "contacts": Contact,
    "accounts": Account,
    "memberships": Membership,
    "audit_events": AuditEvent,
    "outbox_messages": OutboxMessage,
    "registrations": Registration,
    "tokens": Token,
    "jobs": Job,
    "documents": Document,
    "staff_members": StaffMember,
    "inbox_settings": InboxAddress,
    "inbox_items": InboxItem,
    "inbox_comments": InboxComment,
    "inbox_events": InboxEvent,
    "work_requests": WorkRequest,
    "tickets": Ticket,
    "ticket_attachments": TicketAttachment,
    "second_factors": SecondFactor,
    "second_factor_rules": SecondFactorRule,
    "access_tokens": AccessToken,
    "passkeys": Passkey,
    "sessions": SessionRecord,
    "sso_configs": SsoConfig,
    "sso_domains": SsoDomain,
    "sso_attempts": SsoAttempt,
    "category_tree": Category,
    "catalogue_items": CatalogueItem,
    "customer_groups": CustomerGroup,
    "assortments": Assortment,
    "price_lists": PriceList,
    "price_rules": PriceRule,
    "device_models": DeviceModel,
    "devices": Device,
    "carts": Cart,
    "orders": Order,
    "quotes": Quote,
    "quote_messages": QuoteMessage,
}
# Tables whose ``item_id`` is an inbox item (the catalogue's tables name catalogue items).
INBOX_CHILDREN = frozenset({"inbox_comments", "inbox_events", "work_requests", "tickets"})
REPOSITORY = {"audit_events": "audit", "outbox_messages": "outbox", "category_tree": "categories"}
# Fields unique across the table (or the vendor): each example's value gets its own suffix.
UNIQUE = (
    "code", "username", "email", "name", "digest", "message_id", "user_id", "sku", "serial",
    "number",
)  # fmt: skip

TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=12)
WHEN = st.datetimes(
    min_value=datetime(1970, 1, 2),
    max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
    ),
)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)


def strategy(t: Any) -> st.SearchStrategy[Any]:
    """Any value of the field type ``t``."""
    simple = {
        str: TEXT,
        int: st.integers(-(2**31), 2**31 - 1),
        bool: st.booleans(),
        UUID: st.uuids(),
        datetime: WHEN,
        Decimal: st.decimals(
            min_value=-(10**12), max_value=10**12, places=4, allow_nan=False, allow_infinity=False
        ),
        date: st.dates(),
    }
    if t in simple:
        return simple[t]
    if isinstance(t, type) and issubclass(t, enum.Enum):
        return st.sampled_from(t)
    if isinstance(t, type) and attrs.has(t):
        attrs.resolve_types(t)
        return st.builds(t, **{name: strategy(a.type) for name, a in attrs.fields_dict(t).items()})
    origin, args = get_origin(t), get_args(t)
    if origin in (Union, types.UnionType) and type(None) in args:
        (inner,) = (a for a in args if a is not type(None))
        return st.none() | strategy(inner)
    if origin is tuple and args[1:] == (...,):
        return st.lists(strategy(args[0]), max_size=3).map(tuple)
    if origin is frozenset:
        return st.frozensets(strategy(args[0]), max_size=3)
    if origin in (Mapping, dict) and args[0] is str:
        return st.dictionaries(TEXT, JSON if args[1] is Any else strategy(args[1]), max_size=3)
    raise TypeError(f"no strategy for {t!r}: add one")


@attrs.define
class Parents:
    """Stored records a drawn record may point at; every example gets new ones."""

    vendor: Vendor
    customer: Customer
    contact: Contact
    account: Account
    profile: PermissionProfile
    registration: Registration
    membership: Membership
    location: Location
    inbox_item: InboxItem
    category: Category
    item: CatalogueItem
    price_list: PriceList
    model: DeviceModel
    quote: Quote
    ticket: Ticket

    @classmethod
    def store(cls, storage: SqlStorage) -> Parents:
        now = datetime.now(UTC)
        tag = uuid4().hex
        vendor = Vendor(uuid4(), f"v{tag}", "Vendor", now)
        customer = Customer(uuid4(), vendor.id, f"c{tag}", "Customer", now)
        contact = Contact(uuid4(), vendor.id, customer.id, "Ann", "Smith", now)
        account, other = (
            Account(uuid4(), vendor.id, f"{n}{tag}", f"{n}{tag}@example.com", now) for n in "ab"
        )
        parents = cls(
            vendor=vendor,
            customer=customer,
            contact=contact,
            account=account,
            profile=PermissionProfile(uuid4(), vendor.id, f"p{tag}", now),
            registration=Registration(
                uuid4(), vendor.id, f"r{tag}@example.com", "Ann", "Smith", "Co", now
            ),
            # On another account, so a drawn membership of `account` in `customer` is no clash.
            membership=(
                membership := Membership(uuid4(), vendor.id, other.id, customer.id, contact.id, now)
            ),
            location=Location(uuid4(), vendor.id, customer.id, "Site", now),
            inbox_item=(
                inbox_item := InboxItem(uuid4(), vendor.id, "ticket", uuid4(), "Item", now, now)
            ),
            category=(category := Category(uuid4(), vendor.id, "Category", now)),
            item=CatalogueItem(
                uuid4(),
                vendor.id,
                f"i{tag}",
                "Item",
                Decimal("1.5"),
                "EUR",
                now,
                category_id=category.id,
            ),
            price_list=PriceList(uuid4(), vendor.id, f"l{tag}", "EUR", now),
            model=DeviceModel(uuid4(), vendor.id, f"m{tag}", now),
            quote=Quote(
                uuid4(),
                vendor.id,
                customer.id,
                membership.id,
                f"q{tag}",
                now,
                (),
                DeliveryAddress("Kade 1", "1000 AA", "Amsterdam"),
            ),
            ticket=Ticket(
                uuid4(),
                vendor.id,
                customer.id,
                other.id,
                membership.id,
                "Printer offline",
                "Since 9:00",
                now,
                inbox_item.id,
            ),
        )
        uow = storage.begin()
        uow.vendors.add(vendor)
        for table, record in (
            ("customers", customer),
            ("contacts", contact),
            ("accounts", account),
            ("accounts", other),
            ("profiles", parents.profile),
            ("registrations", parents.registration),
            ("memberships", parents.membership),
            ("locations", parents.location),
            ("inbox_items", parents.inbox_item),
            ("categories", parents.category),
            ("catalogue_items", parents.item),
            ("price_lists", parents.price_list),
            ("device_models", parents.model),
            ("quotes", parents.quote),
            ("tickets", parents.ticket),
        ):
            getattr(uow, table).add(record)
        uow.commit()
        return parents

    def reference(
        self, name: str, optional: bool, table: str = ""
    ) -> st.SearchStrategy[Any] | None:
        """The strategy of a field that names a parent, or None if ``name`` is no reference."""
        up = "category" if table == "category_tree" else "customer"  # whose tree parent_id is
        # decided_by names the membership that decided an order or a quote.
        decider = "membership" if table in ("orders", "quotes") else "decided_by"
        parent = {"parent_id": up, "decided_by": decider, "default_profile_id": "profile"}.get(
            name, name.removesuffix("_id")
        )
        if name == "item_id" and table in INBOX_CHILDREN:
            parent = "inbox_item"  # theirs is the inbox's item, not the catalogue's
        if not (name.endswith("_id") or name == "decided_by") or not hasattr(self, parent):
            return None
        found = st.just(getattr(self, parent).id)
        return st.none() | found if optional else found


def records(table: str, parents: Parents) -> st.SearchStrategy[Any]:
    """Any record of ``table`` whose references point at ``parents``."""
    record = RECORDS[table]
    attrs.resolve_types(record)
    fields = {}
    for name, a in attrs.fields_dict(record).items():
        reference = parents.reference(name, optional=type(None) in get_args(a.type), table=table)
        fields[name] = reference if reference is not None else strategy(a.type)
    return st.builds(record, **fields)


@pytest.fixture(scope="module")
def storage(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SqlStorage]:
    path = tmp_path_factory.mktemp("rows") / "rows.db"
    shutil.copy(sqlite_template, path)
    store = SqlStorage(f"sqlite:///{path}")
    yield store
    store.close()


def read_back(storage: SqlStorage, table: str, record: Any) -> Any:
    uow = storage.begin()
    repository = getattr(uow, REPOSITORY.get(table, table))
    repository.add(record)
    uow.commit()
    uow = storage.begin(read_only=True)
    try:
        if table == "vendors":
            return uow.vendors.get(record.id)
        return getattr(uow, REPOSITORY.get(table, table)).get(record.vendor_id, record.id)
    finally:
        uow.rollback()


def test_every_table_is_covered() -> None:
    assert set(RECORDS) == set(TABLES)


@pytest.mark.parametrize("table", list(RECORDS))
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_stored_record_reads_back_equal(
    storage: SqlStorage, table: str, data: st.DataObject
) -> None:
    record = data.draw(records(table, Parents.store(storage)))
    # A new id and unique values: Hypothesis draws the same ones again across examples.
    suffix = uuid4().hex[:8]
    unique = {f: f"{getattr(record, f)}~{suffix}" for f in UNIQUE if hasattr(record, f)}
    record = attrs.evolve(record, id=uuid4(), **unique)
    assert read_back(storage, table, record) == record


def _stored_customer_with_branding(storage: SqlStorage, branding: str) -> Customer:
    parents = Parents.store(storage)
    uow = storage.begin()
    uow.connection.execute(
        text("UPDATE customers SET branding = :branding WHERE id = :id"),
        {"branding": branding, "id": parents.customer.id.hex},
    )
    uow.commit()
    return parents.customer


def test_a_branding_stored_before_the_column_was_filled_reads_as_the_default(
    storage: SqlStorage,
) -> None:
    customer = _stored_customer_with_branding(storage, "{}")
    uow = storage.begin(read_only=True)
    try:
        assert uow.customers.get(customer.vendor_id, customer.id) == customer
        assert customer.branding == Branding()
    finally:
        uow.rollback()


def test_a_branding_stored_with_a_key_no_field_knows_is_refused(storage: SqlStorage) -> None:
    customer = _stored_customer_with_branding(storage, '{"logo_url": "", "colour": "red"}')
    uow = storage.begin(read_only=True)
    try:
        with pytest.raises(ForbiddenExtraKeysError, match="colour"):
            uow.customers.get(customer.vendor_id, customer.id)
    finally:
        uow.rollback()
