"""The membership service (``portal.memberships``); :mod:`portalkit.memberships` describes the
concept, ``model.py`` the records and ``rights.py`` what a customer's own administrator may do."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import attrs

from portalkit import _validation as v
from portalkit._guard import may_read_customer, vendor_of
from portalkit._service import ident, load, page, save, seen_version
from portalkit._stamps import new_session_stamp
from portalkit.actors import Actor, Member
from portalkit.errors import NotFound, Problem, ValidationError
from portalkit.memberships.model import (
    MAX_GRANTS,
    Access,
    LocationGrant,
    Membership,
    MembershipKind,
    MembershipStatus,
)
from portalkit.memberships.rights import may_switch_on, may_touch, may_touch_account, within_rights
from portalkit.staffrights import LOGINS_MANAGE

if TYPE_CHECKING:
    from portalkit._runtime import Runtime
    from portalkit.access import AccessService
    from portalkit.accounts.model import Account
    from portalkit.customers.model import Contact, Customer, Location
    from portalkit.profiles.model import PermissionProfile
    from portalkit.storage.base import UnitOfWork


def _location_grants(problems: list[Problem], value: object) -> tuple[LocationGrant, ...]:
    if value is None:
        return ()
    pairs: list[tuple[object, object]]
    if isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, Iterable) and not isinstance(value, str | bytes):
        pairs = []
        for item in value:
            if not isinstance(item, LocationGrant):
                problems.append(
                    Problem(
                        "location_grants", "not_grant", "must map locations to 'read' or 'write'"
                    )
                )
                return ()
            pairs.append((item.location_id, item.access))
    else:
        problems.append(
            Problem("location_grants", "not_mapping", "must map locations to 'read' or 'write'")
        )
        return ()
    if len(pairs) > MAX_GRANTS:
        problems.append(
            Problem(
                "location_grants", "too_many", "may hold at most {limit}", {"limit": MAX_GRANTS}
            )
        )
        return ()
    grants: dict[UUID, Access] = {}
    for location, access in pairs:
        try:
            location_id = ident("location_grants", location)
        except ValidationError as exc:
            problems.extend(exc.problems)
            continue
        checked = v.choice(problems, f"location_grants[{location_id}]", access, Access)
        # The same location twice: keep the wider right, since write implies read.
        if checked is not None and grants.get(location_id) is not Access.WRITE:
            grants[location_id] = checked
    return tuple(LocationGrant(k, grants[k]) for k in sorted(grants, key=str))


def _ids(problems: list[Problem], field: str, value: object) -> frozenset[UUID]:
    if value is None:
        return frozenset()
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        problems.append(Problem(field, "not_list", "must be a list of records or ids"))
        return frozenset()
    items = list(value)
    if len(items) > MAX_GRANTS:
        problems.append(
            Problem(field, "too_many", "may hold at most {limit}", {"limit": MAX_GRANTS})
        )
        return frozenset()
    found = set()
    for item in items:
        try:
            found.add(ident(field, item))
        except ValidationError as exc:
            problems.extend(exc.problems)
    return frozenset(found)


class MembershipService:
    """Give accounts access to customers, and change or end it. Reached as ``portal.memberships``."""

    _CHANGEABLE = frozenset(
        {"profile", "kind", "contact", "location_grants", "customer_grants", "subscriptions"}
    )

    def __init__(self, rt: Runtime, *, access: AccessService) -> None:
        self._rt = rt
        self._access = access

    def create(
        self,
        actor: Actor,
        *,
        account: Account | UUID,
        customer: Customer | UUID,
        contact: Contact | UUID,
        kind: MembershipKind | str | None = None,
        status: MembershipStatus | str = MembershipStatus.INVITED,
        profile: PermissionProfile | UUID | None = None,
        location_grants: Mapping[Location | UUID, Access | str] | Iterable[LocationGrant] = (),
        customer_grants: Iterable[Customer | UUID] = (),
        subscriptions: Iterable[str] | None = None,
    ) -> Membership:
        """Give an account access to a customer as one of its contacts.

        Checks that account, contact, profile, locations and granted customers all belong to
        the actor's vendor (and contact and locations to this customer; granted customers below
        it in its umbrella tree). Raises Conflict when the account is already a member of the
        customer, or a second main account is created.

        A member holding ``members.manage`` (a customer admin, a main account) may create
        logins too, for customers in its reach and never beyond its own rights: the profile's
        capabilities and scopes, the locations and the customers must all be its own;
        otherwise PermissionDenied. Every login a customer admin gives out is an extra account
        (the default ``kind`` for it; for staff the default is ``member``): it works only while
        the customer's main account does.

        ``subscriptions`` are the notification kinds the login is mailed about; None (the
        default) gives it its customer's ``settings.notification_defaults``, a list (``[]``
        too) is taken as given. A customer admin's new logins get the defaults as well: a
        subscription grants nothing (a notification goes only to members who may see it), so
        subscriptions are not held against the admin's own rights.
        """
        vendor_id = vendor_of(actor)
        self._access.live(actor)  # a member's login must still work
        delegate = self._access.delegated_admin(actor, LOGINS_MANAGE)
        problems: list[Problem] = []
        if kind is None:
            kind = MembershipKind.MEMBER if delegate is None else MembershipKind.EXTRA
        checked_kind = v.choice(problems, "kind", kind, MembershipKind)
        checked_status = v.choice(problems, "status", status, MembershipStatus)
        if checked_status is MembershipStatus.DISABLED:
            problems.append(Problem("status", "invalid_choice", "must be 'invited' or 'active'"))
        grants = _location_grants(problems, location_grants)
        customers = _ids(problems, "customer_grants", customer_grants)
        subs = (
            None
            if subscriptions is None
            else v.notification_kinds(problems, "subscriptions", subscriptions)
        )
        ids = {}
        for field, value in (("account", account), ("customer", customer), ("contact", contact)):
            try:
                ids[field] = ident(field, value)
            except ValidationError as exc:
                problems.extend(exc.problems)
        profile_id = None
        if profile is not None:
            try:
                profile_id = ident("profile", profile)
            except ValidationError as exc:
                problems.extend(exc.problems)
        v.raise_if(problems)
        with self._rt.transaction() as uow:
            if delegate is not None:
                # Reach and rights first: what lies outside them is NotFound or refused before
                # any other customer's record is looked at (no code or name in an error).
                access = self._access
                within_rights(
                    uow,
                    access,
                    delegate,
                    ids["customer"],
                    checked_kind,
                    profile_id,
                    grants,
                    customers,
                )
                if checked_status is not MembershipStatus.INVITED:
                    # An account that already logs in elsewhere must not be signed up here
                    # without its owner's word: an invited login starts working only when its
                    # owner accepts, and its password stays out of this admin's hands
                    # (credentials check the whole account before setting one).
                    may_touch_account(uow, access, delegate, ids["account"])
            owner = _check_links(
                uow,
                vendor_id,
                ids["customer"],
                ids["account"],
                ids["contact"],
                profile_id,
                grants,
                customers,
            )
            if checked_kind is MembershipKind.EXTRA:
                _require_main(uow, vendor_id, owner.id)
            membership = Membership(
                id=uuid4(),
                vendor_id=vendor_id,
                account_id=ids["account"],
                customer_id=owner.id,
                contact_id=ids["contact"],
                created_at=self._rt.clock.now(),
                status=checked_status,
                kind=checked_kind,
                profile_id=profile_id,
                location_grants=grants,
                customer_grants=customers,
                subscriptions=owner.settings.notification_defaults if subs is None else subs,
            )
            uow.memberships.add(membership)
            _audit(self._rt, uow, actor, "membership_created", membership)
        return membership

    def get(self, actor: Actor, membership: Membership | UUID) -> Membership:
        """Return a membership the actor may see, or raise NotFound."""
        vendor_id = vendor_of(actor)
        self._access.live(actor)  # a member's login must still work
        with self._rt.transaction() as uow:
            found = load(uow.memberships, vendor_id, "membership", membership, "membership")
        if (
            isinstance(actor, Member)
            and actor.account_id != found.account_id
            and not (may_read_customer(actor, found.customer_id))
        ):
            raise NotFound("membership", found.id)
        return found

    def list(
        self,
        actor: Actor,
        *,
        customer: Customer | UUID | None = None,
        account: Account | UUID | None = None,
        status: MembershipStatus | str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Membership]:
        """Memberships of one customer or one account (at least one must be given)."""
        vendor_id = vendor_of(actor)
        self._access.live(actor)  # a member's login must still work
        limit, offset = page(limit, offset)
        problems: list[Problem] = []
        where: dict[str, object] = {}
        if customer is not None:
            where["customer_id"] = ident("customer", customer)
        if account is not None:
            where["account_id"] = ident("account", account)
        if status is not None:
            where["status"] = v.choice(problems, "status", status, MembershipStatus)
        if not ({"customer_id", "account_id"} & where.keys()):
            problems.append(Problem("customer", "required", "give a customer or an account"))
        v.raise_if(problems)
        if isinstance(actor, Member):
            if "customer_id" in where and not may_read_customer(actor, where["customer_id"]):  # type: ignore[arg-type]
                raise NotFound("customer", where["customer_id"])
            if (
                where.get("account_id", actor.account_id) != actor.account_id
                and "customer_id" not in where
            ):
                raise NotFound("account", where["account_id"])
        with self._rt.transaction() as uow:
            if "customer_id" in where and not isinstance(actor, Member):
                load(uow.customers, vendor_id, "customer", where["customer_id"], "customer")
            return uow.memberships.list(vendor_id, where=where, limit=limit, offset=offset)

    def update(
        self,
        actor: Actor,
        membership: Membership | UUID,
        *,
        expected_version: int | None = None,
        **changes: Any,
    ) -> Membership:
        """Change profile, kind, contact, location grants, customer grants or subscriptions.

        Members holding ``members.manage`` may change the logins in their reach within their
        own rights, but not a main account, another administrator or their own login.
        """
        vendor_id = vendor_of(actor)
        self._access.live(actor)  # a member's login must still work
        delegate = self._access.delegated_admin(actor, LOGINS_MANAGE)
        problems: list[Problem] = []
        v.only_fields(problems, changes, self._CHANGEABLE, "membership")
        fields: dict[str, Any] = {}
        if "profile" in changes:
            fields["profile_id"] = (
                ident("profile", changes["profile"]) if changes["profile"] is not None else None
            )
        if "kind" in changes:
            fields["kind"] = v.choice(problems, "kind", changes["kind"], MembershipKind)
        if "contact" in changes:
            fields["contact_id"] = ident("contact", changes["contact"])
        if "location_grants" in changes:
            fields["location_grants"] = _location_grants(problems, changes["location_grants"])
        if "customer_grants" in changes:
            fields["customer_grants"] = _ids(
                problems, "customer_grants", changes["customer_grants"]
            )
        if "subscriptions" in changes:
            fields["subscriptions"] = v.notification_kinds(
                problems, "subscriptions", changes["subscriptions"]
            )
        v.raise_if(problems)
        with self._rt.transaction() as uow:
            current = load(uow.memberships, vendor_id, "membership", membership, "membership")
            merged = attrs.evolve(current, **fields)
            if delegate is not None:
                # Reach and rights before the links: nothing of another customer is looked at.
                may_touch(uow, self._access, delegate, current)
                within_rights(
                    uow,
                    self._access,
                    delegate,
                    merged.customer_id,
                    merged.kind,
                    merged.profile_id,
                    merged.location_grants,
                    merged.customer_grants,
                )
            _check_links(
                uow,
                vendor_id,
                merged.customer_id,
                merged.account_id,
                merged.contact_id,
                merged.profile_id,
                merged.location_grants,
                merged.customer_grants,
            )
            if merged.kind is MembershipKind.EXTRA and current.kind is not MembershipKind.EXTRA:
                _require_main(uow, vendor_id, current.customer_id)
            changed = sorted(f for f in fields if getattr(merged, f) != getattr(current, f))
            if set(changed) & set(_RIGHTS):
                # Sessions made under the old rights end (validate_session): a change of
                # rights may take something away, and which changes do is not worth guessing.
                fields["session_stamp"] = new_session_stamp()
            saved = save(
                uow.memberships,
                current,
                seen_version(membership, expected_version),
                "membership",
                **fields,
            )
            if changed:
                _audit(self._rt, uow, actor, "membership_updated", saved, changed=changed)
            return saved

    def activate(self, actor: Actor, membership: Membership | UUID) -> Membership:
        """Make an invited or disabled membership active."""
        return self._set_status(actor, membership, MembershipStatus.ACTIVE)

    def deactivate(self, actor: Actor, membership: Membership | UUID) -> Membership:
        """Disable a membership (access control also stops a disabled main account's extras)."""
        return self._set_status(actor, membership, MembershipStatus.DISABLED)

    def _set_status(
        self, actor: Actor, membership: Membership | UUID, status: MembershipStatus
    ) -> Membership:
        delegate = self._access.delegated_admin(actor, LOGINS_MANAGE)
        # A disabled membership's sessions end; activating keeps the stamp it has.
        stamp = {} if status is MembershipStatus.ACTIVE else {"session_stamp": new_session_stamp()}
        vendor_id = vendor_of(actor)
        if delegate is not None:
            self._access.live(actor)  # a member's login must still work
        with self._rt.transaction() as uow:
            current = load(uow.memberships, vendor_id, "membership", membership, "membership")
            if delegate is not None:
                may_touch(uow, self._access, delegate, current)
                if status is MembershipStatus.ACTIVE and current.status is not status:
                    may_switch_on(uow, self._access, delegate, current)
            if current.status is status:
                return current
            saved = save(
                uow.memberships,
                current,
                seen_version(membership),
                "membership",
                status=status,
                **stamp,
            )
            action = "activated" if status is MembershipStatus.ACTIVE else "deactivated"
            _audit(self._rt, uow, actor, f"membership_{action}", saved)
            if status is MembershipStatus.DISABLED:
                now = self._rt.clock.now()
                revoke_links_of(uow, saved, now)
                if saved.kind is MembershipKind.MAIN:
                    # A main account's extras stop with it, and so do their links.
                    end_logins_of_customer(uow, vendor_id, saved.customer_id, now)
            return saved


_RIGHTS = ("profile_id", "kind", "location_grants", "customer_grants")


def revoke_links_of(uow: UnitOfWork, membership: Membership, now: datetime) -> None:
    """Revoke the links a membership that stops leaves open: its own (invitations), and the
    account's (reset links) only when no other membership of the account still works — a
    person's link to log in at another customer is not this customer's to end."""
    vendor_id = membership.vendor_id
    uow.revoke_tokens(vendor_id, now, membership_id=membership.id)
    others = uow.memberships.list(
        vendor_id, where={"account_id": membership.account_id, "status": MembershipStatus.ACTIVE}
    )
    if not any(other.id != membership.id for other in others):
        uow.revoke_tokens(vendor_id, now, account_id=membership.account_id)


def end_logins_of_customer(
    uow: UnitOfWork, vendor_id: UUID, customer_id: UUID, now: datetime
) -> None:
    """End what the extra accounts of a customer hold open once its main account stops —
    whichever way it was switched off: their links are revoked and their session stamps
    renewed, so that switching the main account on again revives neither."""
    for member in uow.memberships.list(vendor_id, where={"customer_id": customer_id}):
        if member.kind is not MembershipKind.EXTRA:
            continue
        revoke_links_of(uow, member, now)
        uow.memberships.update(
            attrs.evolve(member, session_stamp=new_session_stamp(), version=member.version + 1),
            member.version,
        )


def _audit(
    rt: Runtime,
    uow: UnitOfWork,
    actor: Actor,
    action: str,
    membership: Membership,
    **details: Any,
) -> None:

    rt.record(
        uow,
        vendor_id=membership.vendor_id,
        action=action,
        real=actor,
        customer_id=membership.customer_id,
        target=f"membership:{membership.id}",
        **details,
    )


def _check_links(
    uow: UnitOfWork,
    vendor_id: UUID,
    customer_id: UUID,
    account_id: UUID,
    contact_id: UUID,
    profile_id: UUID | None,
    grants: tuple[LocationGrant, ...],
    customers: frozenset[UUID],
) -> Customer:
    """Every record a membership points at must exist in the vendor and fit together."""
    owner = load(uow.customers, vendor_id, "customer", customer_id, "customer")
    load(uow.accounts, vendor_id, "account", account_id, "account")
    person = load(uow.contacts, vendor_id, "contact", contact_id, "contact")
    problems: list[Problem] = []
    if person.customer_id != owner.id:
        problems.append(
            Problem("contact", "other_customer", "must be a contact of the membership's customer")
        )
    if profile_id is not None:
        load(uow.profiles, vendor_id, "permission profile", profile_id, "profile")
    for granted in sorted(customers, key=str):
        child = load(uow.customers, vendor_id, "customer", granted, "customer_grants")
        if not _is_below(uow, vendor_id, child, owner.id):
            problems.append(
                Problem(
                    "customer_grants",
                    "outside_tree",
                    # The id the caller gave, never another customer's code or name.
                    "customer {granted} is not below the membership's customer",
                    {"granted": granted},
                )
            )
    allowed = {owner.id, *customers}
    for grant in grants:
        place = load(uow.locations, vendor_id, "location", grant.location_id, "location_grants")
        if place.customer_id not in allowed:
            problems.append(
                Problem(
                    "location_grants",
                    "other_customer",
                    "location {location} is not a location of the membership's customer "
                    "or of a granted one",
                    {"location": grant.location_id},
                )
            )
    v.raise_if(problems)
    return owner


def _is_below(uow: UnitOfWork, vendor_id: UUID, child: Customer, ancestor: UUID) -> bool:
    seen: set[UUID] = set()
    parent = child.parent_id
    while parent is not None and parent not in seen:
        if parent == ancestor:
            return True
        seen.add(parent)
        found = uow.customers.get(vendor_id, parent)
        parent = found.parent_id if found else None
    return False


def _require_main(uow: UnitOfWork, vendor_id: UUID, customer_id: UUID) -> None:
    # The main-account rule is a unique key, so this look-up is an index hit, not a scan.
    if uow.memberships.get_by(vendor_id, "kind", customer_id) is None:
        raise ValidationError.single(
            "kind",
            "no_main_account",
            "an extra account needs the customer's main account; create that first",
        )
