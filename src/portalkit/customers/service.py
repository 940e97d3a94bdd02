"""The customer, location and contact services (``portal.customers``, ``portal.locations``,
``portal.contacts``); :mod:`portalkit.customers` describes the concept, ``model.py`` the records."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from uuid import UUID, uuid4

import attrs

from portalkit import _validation as v
from portalkit import money
from portalkit._guard import may_read_customer, require_admin, vendor_of
from portalkit._service import ident, load, page, save, seen_version, set_fields
from portalkit._stamps import new_session_stamp
from portalkit.actors import Actor, Member
from portalkit.assets.base import PUBLIC, check_key, vendor_folder
from portalkit.customers.model import (
    MAX_TREE_DEPTH,
    Address,
    Branding,
    Contact,
    Customer,
    CustomerSettings,
    Location,
)
from portalkit.errors import NotFound, Problem, ValidationError
from portalkit.staffrights import CUSTOMERS_PROVISION, LOGINS_MANAGE

if TYPE_CHECKING:
    from portalkit._runtime import Runtime
    from portalkit.access import AccessService
    from portalkit.storage.base import Repository, UnitOfWork


def _settings(problems: list[Problem], value: object) -> CustomerSettings:
    if value is None:
        return CustomerSettings()
    if isinstance(value, CustomerSettings):
        # Checked like a mapping: a record built by hand holds whatever it was given.
        value = attrs.asdict(value, recurse=False)
    if not isinstance(value, Mapping):
        problems.append(Problem("settings", "not_mapping", "must be CustomerSettings or a mapping"))
        return CustomerSettings()
    known = {f.name for f in attrs.fields(CustomerSettings)}
    unknown = sorted(str(k) for k in value if k not in known)
    for key in unknown:
        problems.append(Problem(f"settings.{key}", "unknown_field", "is not a customer setting"))
    flags: dict[str, Any] = {
        k: v.boolean(problems, f"settings.{k}", value[k]) for k in known - _NOT_FLAGS if k in value
    }
    if value.get("approval_above") is not None:
        flags["approval_above"] = money.amount(
            problems, "settings.approval_above", value["approval_above"]
        )
    if "notification_defaults" in value:
        # The same rule as a login's own subscriptions: these become them.
        flags["notification_defaults"] = v.notification_kinds(
            problems, "settings.notification_defaults", value["notification_defaults"]
        )
    return CustomerSettings(**flags)


# The settings that are not true/false flags, each checked by its own rule.
_NOT_FLAGS = frozenset({"approval_above", "notification_defaults"})


def _plain(value: object) -> object:
    # An approval amount goes into the audit's JSON details as its exact text, a set of
    # notification kinds as a sorted list.
    if isinstance(value, frozenset):
        return sorted(value)
    return str(value) if isinstance(value, Decimal) else value


def _branding(problems: list[Problem], value: object, vendor_id: UUID) -> Branding:
    if value is None:
        return Branding()
    if isinstance(value, Branding):
        value = attrs.asdict(value)
    if not isinstance(value, Mapping):
        problems.append(Problem("branding", "not_mapping", "must be Branding or a mapping"))
        return Branding()
    known = {f.name for f in attrs.fields(Branding)}
    for key in sorted(str(k) for k in value if k not in known):
        problems.append(Problem(f"branding.{key}", "unknown_field", "is not a branding field"))
    urls = {}
    for key in ("logo_url", "email_logo_url"):
        url = v.text(problems, f"branding.{key}", value.get(key), required=False, max_length=500)
        # Only https: these go into <img src> of pages and mail, where javascript: or data:
        # URLs would be an injection.
        if url and (not url.startswith("https://") or any(c.isspace() for c in url)):
            problems.append(
                Problem(
                    f"branding.{key}", "not_https", "must be an https:// address without spaces"
                )
            )
            url = ""
        urls[key] = url
    template = v.text(
        problems, "branding.template", value.get("template"), required=False, max_length=v.SHORT_MAX
    )
    assets = {}
    # Only keys of this vendor's branding folder: the public route and the mail's inline
    # logo serve those and nothing else, so a branding naming any other key would only break.
    folder = f"{PUBLIC}/{vendor_folder(vendor_id)}/"
    for key, kinds in (
        ("logo_asset_id", "png|jpg"),
        ("email_logo_asset_id", "png|jpg"),
        ("size_instructions_asset_id", "pdf"),
    ):
        found = value.get(key) or ""
        if found and not _branding_key(found, folder, kinds):
            problems.append(Problem(f"branding.{key}", "invalid_key", "is not an asset key"))
            found = ""
        assets[key] = found
    return Branding(template=template, **urls, **assets)


def _branding_key(key: object, folder: str, kinds: str) -> bool:
    # The exact shape branding's store gives a key, with the file type its field holds.
    if not isinstance(key, str) or not re.fullmatch(
        rf"{re.escape(folder)}([0-9a-f]{{2}})/\1[0-9a-f]{{30}}\.({kinds})", key
    ):
        return False
    try:
        check_key(key)
    except ValidationError:
        return False
    return True


def _address(problems: list[Problem], field: str, value: object) -> Address | None:
    if isinstance(value, Address):
        value = attrs.asdict(value)
    if not isinstance(value, Mapping):
        problems.append(Problem(field, "not_mapping", "must be an Address or a mapping"))
        return None
    known = {f.name for f in attrs.fields(Address)}
    for key in sorted(str(k) for k in value if k not in known):
        problems.append(Problem(f"{field}.{key}", "unknown_field", "is not an address field"))
    before = len(problems)
    address = Address(
        street=v.text(problems, f"{field}.street", value.get("street")),
        postal_code=v.text(
            problems, f"{field}.postal_code", value.get("postal_code"), max_length=20
        ),
        city=v.text(problems, f"{field}.city", value.get("city")),
        country=v.text(
            problems, f"{field}.country", value.get("country"), required=False, max_length=2
        ).upper(),
        label=v.text(
            problems, f"{field}.label", value.get("label"), required=False, max_length=v.SHORT_MAX
        ),
        default_delivery=v.boolean(
            problems, f"{field}.default_delivery", value.get("default_delivery", False)
        ),
    )
    return address if len(problems) == before else None


def _addresses(problems: list[Problem], value: object) -> tuple[Address, ...]:
    if value is None:
        return ()
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        problems.append(Problem("addresses", "not_list", "must be a list of addresses"))
        return ()
    if len(value) > 50:
        problems.append(Problem("addresses", "too_many", "may hold at most 50 addresses"))
        return ()
    result = [_address(problems, f"addresses[{i}]", item) for i, item in enumerate(value)]
    addresses = tuple(a for a in result if a is not None)
    if sum(a.default_delivery for a in addresses) > 1:
        problems.append(
            Problem(
                "addresses",
                "several_defaults",
                "only one address can be the default delivery address",
            )
        )
    return addresses


class CustomerService:
    """Create, read, change and deactivate customers. Reached as ``portal.customers``."""

    _CHANGEABLE = frozenset(
        {"name", "erp_reference", "settings", "branding", "addresses", "parent"}
    )

    def __init__(self, rt: Runtime, *, access: AccessService) -> None:
        self._rt = rt
        self._access = access

    def create(
        self,
        actor: Actor,
        *,
        code: str,
        name: str,
        erp_reference: str | None = None,
        settings: CustomerSettings | Mapping[str, Any] | None = None,
        branding: Branding | Mapping[str, Any] | None = None,
        addresses: Sequence[Address | Mapping[str, Any]] = (),
        parent: Customer | UUID | None = None,
    ) -> Customer:
        """Create a customer of the actor's vendor.

        Raises ValidationError (all problems at once), NotFound for an unknown parent, and
        Conflict when the code is taken (case-insensitively).
        """
        vendor_id = require_admin(actor, CUSTOMERS_PROVISION)
        problems: list[Problem] = []
        code = v.code(problems, "code", code)
        name = v.text(problems, "name", name)
        erp = v.text(
            problems, "erp_reference", erp_reference, required=False, max_length=v.SHORT_MAX
        )
        checked_settings = _settings(problems, settings)
        checked_branding = _branding(problems, branding, vendor_id)
        checked_addresses = _addresses(problems, addresses)
        parent_id = ident("parent", parent) if parent is not None else None
        v.raise_if(problems)
        with self._rt.transaction() as uow:
            if parent_id is not None:
                _check_depth(uow, vendor_id, parent_id, extra_levels=1)
            customer = Customer(
                id=uuid4(),
                vendor_id=vendor_id,
                code=code,
                name=name,
                created_at=self._rt.clock.now(),
                erp_reference=erp,
                settings=checked_settings,
                branding=checked_branding,
                addresses=checked_addresses,
                parent_id=parent_id,
            )
            uow.customers.add(customer)
            _audit(self._rt, uow, actor, "customer_created", customer)
        return customer

    def get(self, actor: Actor, customer: Customer | UUID) -> Customer:
        """Return a customer the actor may see, or raise NotFound."""
        vendor_id = vendor_of(actor)
        self._access.live(actor)  # a member's login must still work
        with self._rt.transaction() as uow:
            found = load(uow.customers, vendor_id, "customer", customer, "customer")
        if not may_read_customer(actor, found.id):
            raise NotFound("customer", found.id)
        return found

    def get_by_code(self, actor: Actor, code: str) -> Customer:
        """Return the customer with this code (case-insensitive), or raise NotFound."""
        vendor_id = vendor_of(actor)
        self._access.live(actor)  # a member's login must still work
        problems: list[Problem] = []
        code = v.code(problems, "code", code)
        v.raise_if(problems)
        with self._rt.transaction() as uow:
            found = uow.customers.get_by(vendor_id, "code", code)
        if found is None or not may_read_customer(actor, found.id):
            raise NotFound("customer", code)
        return found

    def list(
        self,
        actor: Actor,
        *,
        active: bool | None = None,
        parent: Customer | UUID | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Customer]:
        """List the vendor's customers the actor may see, oldest first."""
        vendor_id = vendor_of(actor)
        self._access.live(actor)  # a member's login must still work
        limit, offset = page(limit, offset)
        where = _active_filter(active)
        if parent is not None:
            where["parent_id"] = ident("parent", parent)
        with self._rt.transaction() as uow:
            if not isinstance(actor, Member):
                return uow.customers.list(vendor_id, where=where, limit=limit, offset=offset)
            # A member sees its own customer only, until access control widens that.
            own = uow.customers.list(vendor_id, where={**where, "id": actor.customer_id})
            return own[offset : offset + limit]

    def update(
        self,
        actor: Actor,
        customer: Customer | UUID,
        *,
        expected_version: int | None = None,
        **changes: Any,
    ) -> Customer:
        """Change name, ERP reference, settings, addresses or parent; the code never changes.

        Pass the Customer you read to be told (ConcurrentModification) if someone else
        changed it since.
        """
        vendor_id = require_admin(actor, CUSTOMERS_PROVISION)
        problems: list[Problem] = []
        if "code" in changes:
            problems.append(
                Problem("code", "immutable", "cannot be changed once the customer exists")
            )
        v.only_fields(
            problems,
            {k: x for k, x in changes.items() if k != "code"},
            self._CHANGEABLE,
            "customer",
        )
        fields: dict[str, Any] = {}
        if "name" in changes:
            fields["name"] = v.text(problems, "name", changes["name"])
        if "erp_reference" in changes:
            fields["erp_reference"] = v.text(
                problems,
                "erp_reference",
                changes["erp_reference"],
                required=False,
                max_length=v.SHORT_MAX,
            )
        if "settings" in changes:
            fields["settings"] = _settings(problems, changes["settings"])
        if "addresses" in changes:
            fields["addresses"] = _addresses(problems, changes["addresses"])
        if "branding" in changes:
            fields["branding"] = _branding(problems, changes["branding"], vendor_id)
        if "parent" in changes and changes["parent"] is not None:
            fields["parent_id"] = ident("parent", changes["parent"])
        elif "parent" in changes:
            fields["parent_id"] = None
        v.raise_if(problems)
        with self._rt.transaction() as uow:
            if fields.get("parent_id") is not None:
                # Two moves at once (A under B, B under A) would each pass the cycle check
                # alone; one at a time per vendor, the second sees the first.
                uow.lock_vendor(vendor_id)
            current = load(uow.customers, vendor_id, "customer", customer, "customer")
            if fields.get("parent_id") is not None:
                _check_parent(uow, vendor_id, current, fields["parent_id"])
            saved = save(
                uow.customers,
                current,
                seen_version(customer, expected_version),
                "customer",
                **fields,
            )
            changed = sorted(f for f in fields if getattr(saved, f) != getattr(current, f))
            if changed:
                details: dict[str, Any] = {"changed": changed}
                if "settings" in changed:
                    # Prices shown or hidden, shop on or off: who switched it, from what to what.
                    details["settings"] = {
                        name: [
                            _plain(getattr(current.settings, name)),
                            _plain(getattr(saved.settings, name)),
                        ]
                        for name in attrs.fields_dict(CustomerSettings)
                        if getattr(current.settings, name) != getattr(saved.settings, name)
                    }
                _audit(self._rt, uow, actor, "customer_updated", saved, **details)
            return saved

    def deactivate(self, actor: Actor, customer: Customer | UUID) -> Customer:
        """Switch a customer off: access control then refuses all of its memberships, their
        sessions end and the outstanding links (invitations, resets) of its logins stop
        working — for good, also when the customer is switched on again."""
        with self._rt.transaction() as uow:
            was_active = load(
                uow.customers,
                require_admin(actor, CUSTOMERS_PROVISION),
                "customer",
                customer,
                "customer",
            ).active
            changed = set_fields(
                self._rt, actor, CUSTOMERS_PROVISION, _customers, "customer", customer, active=False
            )
            if was_active:
                _audit(self._rt, uow, actor, "customer_deactivated", changed)
            now = self._rt.clock.now()
            for membership in uow.memberships.list(
                changed.vendor_id, where={"customer_id": changed.id}
            ):
                uow.revoke_tokens(changed.vendor_id, now, account_id=membership.account_id)
                # Its sessions end for good: switching the customer back on does not revive them.
                uow.memberships.update(
                    attrs.evolve(
                        membership,
                        session_stamp=new_session_stamp(),
                        version=membership.version + 1,
                    ),
                    membership.version,
                )
            return changed

    def reactivate(self, actor: Actor, customer: Customer | UUID) -> Customer:
        """Switch a customer on again."""
        with self._rt.transaction() as uow:
            was_active = load(
                uow.customers,
                require_admin(actor, CUSTOMERS_PROVISION),
                "customer",
                customer,
                "customer",
            ).active
            changed = set_fields(
                self._rt, actor, CUSTOMERS_PROVISION, _customers, "customer", customer, active=True
            )
            if not was_active:
                _audit(self._rt, uow, actor, "customer_reactivated", changed)
            return changed


def _audit(
    rt: Runtime, uow: UnitOfWork, actor: Actor, action: str, customer: Customer, **details: Any
) -> None:
    rt.record(
        uow,
        vendor_id=customer.vendor_id,
        action=action,
        real=actor,
        customer_id=customer.id,
        target=f"customer:{customer.id}",
        **details,
    )


def _customers(uow: UnitOfWork) -> Repository[Customer]:
    return uow.customers


def _active_filter(active: object) -> dict[str, object]:
    if active is None:
        return {}
    problems: list[Problem] = []
    flag = v.boolean(problems, "active", active)
    v.raise_if(problems)
    return {"active": flag}


def _ancestors(uow: UnitOfWork, vendor_id: UUID, start: UUID) -> list[UUID]:
    """The chain start, parent, grandparent, …; NotFound if ``start`` is not the vendor's."""
    chain: list[UUID] = []
    current: UUID | None = start
    while current is not None:
        if current in chain or len(chain) > MAX_TREE_DEPTH:
            break  # a stored cycle or an over-deep tree: stop rather than loop
        found = uow.customers.get(vendor_id, current)
        if found is None:
            raise NotFound("customer", current)
        chain.append(found.id)
        current = found.parent_id
    return chain


def _subtree_height(uow: UnitOfWork, vendor_id: UUID, root: UUID) -> int:
    """Levels from ``root`` down to its deepest descendant (1 for a leaf)."""
    height, level = 1, [root]
    while level and height <= MAX_TREE_DEPTH:
        children = [
            c.id
            for parent_id in level
            for c in uow.customers.list(vendor_id, where={"parent_id": parent_id})
        ]
        if not children:
            break
        height, level = height + 1, children
    return height


def _check_depth(uow: UnitOfWork, vendor_id: UUID, parent_id: UUID, extra_levels: int) -> None:
    try:
        depth = len(_ancestors(uow, vendor_id, parent_id))
    except NotFound:
        raise NotFound("parent customer", parent_id) from None
    if depth + extra_levels > MAX_TREE_DEPTH:
        raise ValidationError.single(
            "parent",
            "too_deep",
            "an umbrella tree may have at most {limit} levels",
            limit=MAX_TREE_DEPTH,
        )


def _check_parent(uow: UnitOfWork, vendor_id: UUID, customer: Customer, parent_id: UUID) -> None:
    try:
        chain = _ancestors(uow, vendor_id, parent_id)
    except NotFound:
        raise NotFound("parent customer", parent_id) from None
    if customer.id in chain:
        raise ValidationError.single(
            "parent", "cycle", "would make the customer its own ancestor (a cycle)"
        )
    if len(chain) + _subtree_height(uow, vendor_id, customer.id) > MAX_TREE_DEPTH:
        raise ValidationError.single(
            "parent",
            "too_deep",
            "an umbrella tree may have at most {limit} levels",
            limit=MAX_TREE_DEPTH,
        )


def _customer_of(
    uow: UnitOfWork, actor: Actor, vendor_id: UUID, customer: Customer | UUID
) -> Customer:
    found = load(uow.customers, vendor_id, "customer", customer, "customer")
    if not may_read_customer(actor, found.id):
        raise NotFound("customer", found.id)
    return found


def _visible_customer_id(uow: UnitOfWork, actor: Actor, vendor_id: UUID, customer_id: UUID) -> UUID:
    """``customer_id``, checked to exist and be visible to ``actor`` (NotFound otherwise).
    A member's own customer needs no read: its live login, checked before, says it exists."""
    if isinstance(actor, Member) and customer_id == actor.customer_id:
        return customer_id
    return _customer_of(uow, actor, vendor_id, customer_id).id


P = TypeVar("P", Location, Contact)


class _CustomerPartService(Generic[P]):
    """What locations and contacts share: they belong to one customer and are read,
    listed, deactivated and reactivated the same way."""

    _what: str

    def __init__(self, rt: Runtime, *, access: AccessService) -> None:
        self._rt = rt
        self._access = access

    @staticmethod
    def _repo(uow: UnitOfWork) -> Repository[P]:
        raise TypeError("subclasses name their repository")  # pragma: no cover

    def get(self, actor: Actor, record: P | UUID) -> P:
        """Return the record if the actor may see its customer, else raise NotFound."""
        vendor_id = vendor_of(actor)
        self._access.live(actor)  # a member's login must still work
        with self._rt.transaction() as uow:
            found = load(self._repo(uow), vendor_id, self._what, record, self._what)
        if not may_read_customer(actor, found.customer_id):
            raise NotFound(self._what, found.id)
        return found

    def list(
        self,
        actor: Actor,
        *,
        customer: Customer | UUID,
        active: bool | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[P]:
        """The customer's records, oldest first."""
        vendor_id = vendor_of(actor)
        self._access.live(actor)  # a member's login must still work
        limit, offset = page(limit, offset)
        customer_id = ident("customer", customer)
        where = {**_active_filter(active), "customer_id": customer_id}
        with self._rt.transaction() as uow:
            _visible_customer_id(uow, actor, vendor_id, customer_id)
            return self._repo(uow).list(vendor_id, where=where, limit=limit, offset=offset)

    def deactivate(self, actor: Actor, record: P | UUID) -> P:
        """Mark the record inactive (kept for history; grants to it stop counting)."""
        return set_fields(
            self._rt, actor, CUSTOMERS_PROVISION, self._repo, self._what, record, active=False
        )

    def reactivate(self, actor: Actor, record: P | UUID) -> P:
        """Mark the record active again."""
        return set_fields(
            self._rt, actor, CUSTOMERS_PROVISION, self._repo, self._what, record, active=True
        )


class LocationService(_CustomerPartService[Location]):
    """Sites of a customer. Reached as ``portal.locations``."""

    _what = "location"
    _CHANGEABLE = frozenset({"name", "code", "address"})

    @staticmethod
    def _repo(uow: UnitOfWork) -> Repository[Location]:
        return uow.locations

    def reachable(self, actor: Actor, resource: str) -> list[Location]:
        """The active sites at which ``actor`` may read records of ``resource``: a member's
        are those of the customers in its scope for ``resource`` (an umbrella's branches, a
        granted customer), narrowed to its granted sites where sites limit it, and none
        without a registered type's view capability; what a "choose a site" list offers. Ordered by customer, then oldest first; at most
        1,000. Staff get their vendor's active sites.

        Raises ValidationError for a resource type the portal does not know.
        """
        vendor_id = vendor_of(actor)
        context = self._access.context(actor)
        if not isinstance(resource, str) or resource not in self._access.resource_types:
            raise ValidationError.single(
                "resource",
                "unknown",
                "{name} is not a known resource type: register it, or declare its name with "
                "portal.access.declare_resource_types()",
                name=v.shown(resource),
            )
        kind = self._access.resources.get(resource)
        if not context.staff and kind is not None and not context.can(kind.view):
            return []  # a registered type's records show only with its view capability
        if not context.staff and kind is not None and context.predicate(kind).nothing:
            return []  # a location scope with no site granted shows no record anywhere
        with self._rt.transaction(read_only=True) as uow:
            if context.staff:
                return uow.locations.list(vendor_id, where={"active": True}, limit=1000)
            found: list[Location] = []
            for customer_id in sorted(context.reach(resource), key=str):
                found += uow.locations.list(
                    vendor_id, where={"customer_id": customer_id, "active": True}, limit=1000
                )
        limited = context.location_read
        shown = [p for p in found if limited is None or p.id in limited]
        return shown[:1000]

    def create(
        self,
        actor: Actor,
        *,
        customer: Customer | UUID,
        name: str,
        code: str | None = None,
        address: Address | Mapping[str, Any] | None = None,
    ) -> Location:
        """Add a site to a customer."""
        vendor_id = require_admin(actor, CUSTOMERS_PROVISION)
        problems: list[Problem] = []
        name = v.text(problems, "name", name)
        loc_code = v.code(problems, "code", code) if code not in (None, "") else ""
        checked = _address(problems, "address", address) if address is not None else None
        customer_id = ident("customer", customer)
        v.raise_if(problems)
        with self._rt.transaction() as uow:
            owner = _customer_of(uow, actor, vendor_id, customer_id)
            location = Location(
                id=uuid4(),
                vendor_id=vendor_id,
                customer_id=owner.id,
                name=name,
                created_at=self._rt.clock.now(),
                code=loc_code,
                address=checked,
            )
            uow.locations.add(location)
        return location

    def update(
        self,
        actor: Actor,
        location: Location | UUID,
        *,
        expected_version: int | None = None,
        **changes: Any,
    ) -> Location:
        """Change a location's name, code or address."""
        vendor_id = require_admin(actor, CUSTOMERS_PROVISION)
        problems: list[Problem] = []
        v.only_fields(problems, changes, self._CHANGEABLE, "location")
        fields: dict[str, Any] = {}
        if "name" in changes:
            fields["name"] = v.text(problems, "name", changes["name"])
        if "code" in changes:
            fields["code"] = (
                v.code(problems, "code", changes["code"])
                if changes["code"] not in (None, "")
                else ""
            )
        if "address" in changes:
            fields["address"] = (
                _address(problems, "address", changes["address"])
                if changes["address"] is not None
                else None
            )
        v.raise_if(problems)
        with self._rt.transaction() as uow:
            current = load(uow.locations, vendor_id, "location", location, "location")
            return save(
                uow.locations,
                current,
                seen_version(location, expected_version),
                "location",
                **fields,
            )


class ContactService(_CustomerPartService[Contact]):
    """People at a customer. Reached as ``portal.contacts``."""

    _what = "contact"

    _CHANGEABLE = frozenset(
        {"first_name", "last_name", "email", "job_title", "department", "phone"}
    )

    @staticmethod
    def _repo(uow: UnitOfWork) -> Repository[Contact]:
        return uow.contacts

    @staticmethod
    def _fields(problems: list[Problem], values: Mapping[str, Any]) -> dict[str, Any]:
        checks: dict[str, Any] = {
            "first_name": lambda x: v.text(problems, "first_name", x, max_length=v.SHORT_MAX),
            "last_name": lambda x: v.text(problems, "last_name", x, max_length=v.SHORT_MAX),
            "email": lambda x: v.email(problems, "email", x, required=False),
            "job_title": lambda x: v.text(
                problems, "job_title", x, required=False, max_length=v.SHORT_MAX
            ),
            "department": lambda x: v.text(
                problems, "department", x, required=False, max_length=v.SHORT_MAX
            ),
            "phone": lambda x: v.text(problems, "phone", x, required=False, max_length=40),
        }
        return {k: checks[k](x) for k, x in values.items() if k in checks}

    def create(
        self,
        actor: Actor,
        *,
        customer: Customer | UUID,
        first_name: str,
        last_name: str,
        email: str | None = None,
        job_title: str | None = None,
        department: str | None = None,
        phone: str | None = None,
    ) -> Contact:
        """Add a contact person to a customer (staff, or a member holding ``members.manage``
        for a customer in its reach)."""
        vendor_id = vendor_of(actor)
        self._access.live(actor)  # a member's login must still work
        delegate = self._access.delegated_admin(actor, CUSTOMERS_PROVISION, LOGINS_MANAGE)
        problems: list[Problem] = []
        fields = self._fields(
            problems,
            {
                "first_name": first_name,
                "last_name": last_name,
                "email": email,
                "job_title": job_title,
                "department": department,
                "phone": phone,
            },
        )
        customer_id = ident("customer", customer)
        v.raise_if(problems)
        with self._rt.transaction() as uow:
            if delegate is None:
                owner = _customer_of(uow, actor, vendor_id, customer_id)
            else:  # a delegated admin reaches the customers of its scope, umbrella ones too
                owner = load(uow.customers, vendor_id, "customer", customer_id, "customer")
                if owner.id not in delegate.reach("memberships"):
                    raise NotFound("customer", owner.id)
            contact = Contact(
                id=uuid4(),
                vendor_id=vendor_id,
                customer_id=owner.id,
                created_at=self._rt.clock.now(),
                **fields,
            )
            uow.contacts.add(contact)
        return contact

    def update(
        self,
        actor: Actor,
        contact: Contact | UUID,
        *,
        expected_version: int | None = None,
        **changes: Any,
    ) -> Contact:
        """Change a contact's names, e-mail, job title, department or phone."""
        vendor_id = require_admin(actor, CUSTOMERS_PROVISION)
        problems: list[Problem] = []
        v.only_fields(problems, changes, self._CHANGEABLE, "contact")
        fields = self._fields(problems, changes)
        v.raise_if(problems)
        with self._rt.transaction() as uow:
            current = load(uow.contacts, vendor_id, "contact", contact, "contact")
            return save(
                uow.contacts, current, seen_version(contact, expected_version), "contact", **fields
            )
