"""Domain records to row dicts and back, one explicit pair of functions per table.

Nested values (addresses, grants, scopes) go to JSON columns through one cattrs converter;
enums are stored by value, ids as UUIDs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

import attrs
import cattrs

from portalkit._validation import code_key, email_key
from portalkit.accounts import Account, AccountStatus
from portalkit.audit import AuditEvent
from portalkit.customers import Address, Branding, Contact, Customer, CustomerSettings, Location
from portalkit.jobs import Job, JobStage
from portalkit.memberships import (
    Access,
    LocationGrant,
    Membership,
    MembershipKind,
    MembershipStatus,
)
from portalkit.outbox import OutboxMessage, OutboxStatus
from portalkit.profiles import PermissionProfile, Scope
from portalkit.registrations import Registration, RegistrationStatus
from portalkit.tokens import Token, TokenPurpose
from portalkit.vendors import Vendor

json = cattrs.Converter()
json.register_unstructure_hook(UUID, str)
json.register_structure_hook(UUID, lambda value, _: UUID(value))


def _vendor_row(v: Vendor) -> dict[str, Any]:
    return {
        "id": v.id,
        "code": v.code,
        "code_key": code_key(v.code),
        "name": v.name,
        "created_at": v.created_at,
    }


def _vendor(r: Mapping[Any, Any]) -> Vendor:
    return Vendor(id=r["id"], code=r["code"], name=r["name"], created_at=r["created_at"])


def _customer_row(c: Customer) -> dict[str, Any]:
    return {
        "id": c.id,
        "vendor_id": c.vendor_id,
        "code": c.code,
        "code_key": code_key(c.code),
        "name": c.name,
        "erp_reference": c.erp_reference,
        "active": c.active,
        "show_prices": c.settings.show_prices,
        "shop_enabled": c.settings.shop_enabled,
        "addresses": json.unstructure(c.addresses, tuple[Address, ...]),
        "branding": json.unstructure(c.branding, Branding),
        "parent_id": c.parent_id,
        "created_at": c.created_at,
        "version": c.version,
    }


def _customer(r: Mapping[Any, Any]) -> Customer:
    return Customer(
        id=r["id"],
        vendor_id=r["vendor_id"],
        code=r["code"],
        name=r["name"],
        created_at=r["created_at"],
        erp_reference=r["erp_reference"],
        active=r["active"],
        settings=CustomerSettings(show_prices=r["show_prices"], shop_enabled=r["shop_enabled"]),
        addresses=json.structure(r["addresses"], tuple[Address, ...]),
        branding=json.structure(r["branding"] or {}, Branding),
        parent_id=r["parent_id"],
        version=r["version"],
    )


def _location_row(x: Location) -> dict[str, Any]:
    return {
        "id": x.id,
        "vendor_id": x.vendor_id,
        "customer_id": x.customer_id,
        "name": x.name,
        "code": x.code,
        "address": json.unstructure(x.address, Address | None),
        "active": x.active,
        "created_at": x.created_at,
        "version": x.version,
    }


def _location(r: Mapping[Any, Any]) -> Location:
    return Location(
        id=r["id"],
        vendor_id=r["vendor_id"],
        customer_id=r["customer_id"],
        name=r["name"],
        created_at=r["created_at"],
        code=r["code"],
        address=None if r["address"] is None else json.structure(r["address"], Address),
        active=r["active"],
        version=r["version"],
    )


_CONTACT_FIELDS = (
    "id",
    "vendor_id",
    "customer_id",
    "first_name",
    "last_name",
    "email",
    "job_title",
    "department",
    "phone",
    "active",
    "created_at",
    "version",
)


def _contact_row(x: Contact) -> dict[str, Any]:
    return {f: getattr(x, f) for f in _CONTACT_FIELDS}


def _contact(r: Mapping[Any, Any]) -> Contact:
    return Contact(**{f: r[f] for f in _CONTACT_FIELDS})


def _account_row(a: Account) -> dict[str, Any]:
    return {
        "id": a.id,
        "vendor_id": a.vendor_id,
        "username": a.username,
        "username_key": code_key(a.username),
        "email": a.email,
        "email_key": email_key(a.email),
        "status": a.status.value,
        "language": a.language,
        "password_hash": a.password_hash,
        "session_stamp": a.session_stamp,
        "must_change_password": a.must_change_password,
        "password_expires_at": a.password_expires_at,
        "password_changed_at": a.password_changed_at,
        "last_login_at": a.last_login_at,
        "login_count": a.login_count,
        "created_at": a.created_at,
        "version": a.version,
    }


def _account(r: Mapping[Any, Any]) -> Account:
    return Account(
        id=r["id"],
        vendor_id=r["vendor_id"],
        username=r["username"],
        email=r["email"],
        created_at=r["created_at"],
        status=AccountStatus(r["status"]),
        language=r["language"],
        password_hash=r["password_hash"],
        session_stamp=r["session_stamp"],
        must_change_password=r["must_change_password"],
        password_expires_at=r["password_expires_at"],
        password_changed_at=r["password_changed_at"],
        last_login_at=r["last_login_at"],
        login_count=r["login_count"],
        version=r["version"],
    )


def _membership_row(m: Membership) -> dict[str, Any]:
    return {
        "id": m.id,
        "vendor_id": m.vendor_id,
        "account_id": m.account_id,
        "customer_id": m.customer_id,
        "contact_id": m.contact_id,
        "profile_id": m.profile_id,
        "status": m.status.value,
        "kind": m.kind.value,
        "location_grants": [[str(g.location_id), g.access.value] for g in m.location_grants],
        "customer_grants": sorted(str(c) for c in m.customer_grants),
        "subscriptions": sorted(m.subscriptions),
        "session_stamp": m.session_stamp,
        "created_at": m.created_at,
        "version": m.version,
    }


def _membership(r: Mapping[Any, Any]) -> Membership:
    return Membership(
        id=r["id"],
        vendor_id=r["vendor_id"],
        account_id=r["account_id"],
        customer_id=r["customer_id"],
        contact_id=r["contact_id"],
        created_at=r["created_at"],
        status=MembershipStatus(r["status"]),
        kind=MembershipKind(r["kind"]),
        profile_id=r["profile_id"],
        location_grants=tuple(LocationGrant(UUID(i), Access(a)) for i, a in r["location_grants"]),
        customer_grants=frozenset(UUID(c) for c in r["customer_grants"]),
        subscriptions=frozenset(r["subscriptions"]),
        session_stamp=r["session_stamp"],
        version=r["version"],
    )


def _profile_row(p: PermissionProfile) -> dict[str, Any]:
    return {
        "id": p.id,
        "vendor_id": p.vendor_id,
        "name": p.name,
        "name_key": code_key(p.name),
        "capabilities": sorted(p.capabilities),
        "scopes": {k: s.value for k, s in p.scopes.items()},
        "description": p.description,
        "created_at": p.created_at,
        "version": p.version,
    }


def _profile(r: Mapping[Any, Any]) -> PermissionProfile:
    return PermissionProfile(
        id=r["id"],
        vendor_id=r["vendor_id"],
        name=r["name"],
        created_at=r["created_at"],
        capabilities=frozenset(r["capabilities"]),
        scopes={k: Scope(s) for k, s in r["scopes"].items()},
        description=r["description"],
        version=r["version"],
    )


_AUDIT_FIELDS = (
    "id",
    "vendor_id",
    "at",
    "action",
    "outcome",
    "real_actor",
    "effective_actor",
    "customer_id",
    "target",
    "reason",
)


def _audit_row(e: AuditEvent) -> dict[str, Any]:
    return {
        **{f: getattr(e, f) for f in _AUDIT_FIELDS},
        "created_at": e.at,
        "details": json.unstructure(dict(e.details)),
    }


def _audit(r: Mapping[Any, Any]) -> AuditEvent:
    return AuditEvent(**{f: r[f] for f in _AUDIT_FIELDS}, details=r["details"])


_OUTBOX_FIELDS = (
    "id",
    "vendor_id",
    "created_at",
    "message_id",
    "to",
    "subject",
    "text",
    "html",
    "kind",
    "secret",
    "attempts",
    "next_attempt_at",
    "claimed_until",
    "last_error",
    "sent_at",
    "version",
)


def _outbox_row(m: OutboxMessage) -> dict[str, Any]:
    return {**{f: getattr(m, f) for f in _OUTBOX_FIELDS}, "status": m.status.value}


def _outbox(r: Mapping[Any, Any]) -> OutboxMessage:
    return OutboxMessage(**{f: r[f] for f in _OUTBOX_FIELDS}, status=OutboxStatus(r["status"]))


_TOKEN_FIELDS = tuple(f.name for f in attrs.fields(Token) if f.name != "purpose")
_REGISTRATION_FIELDS = tuple(f.name for f in attrs.fields(Registration) if f.name != "status")


def _token_row(t: Token) -> dict[str, Any]:
    return {**{f: getattr(t, f) for f in _TOKEN_FIELDS}, "purpose": t.purpose.value}


def _token(r: Mapping[Any, Any]) -> Token:
    return Token(**{f: r[f] for f in _TOKEN_FIELDS}, purpose=TokenPurpose(r["purpose"]))


def _registration_row(g: Registration) -> dict[str, Any]:
    return {
        **{f: getattr(g, f) for f in _REGISTRATION_FIELDS},
        "email_key": email_key(g.email),
        "status": g.status.value,
    }


def _registration(r: Mapping[Any, Any]) -> Registration:
    return Registration(
        **{f: r[f] for f in _REGISTRATION_FIELDS}, status=RegistrationStatus(r["status"])
    )


_JOB_FIELDS = tuple(f.name for f in attrs.fields(Job) if f.name != "stage")


def _job_row(j: Job) -> dict[str, Any]:
    return {**{f: getattr(j, f) for f in _JOB_FIELDS}, "stage": j.stage.value}


def _job(r: Mapping[Any, Any]) -> Job:
    return Job(**{f: r[f] for f in _JOB_FIELDS}, stage=JobStage(r["stage"]))


TO_ROW: dict[str, Callable[[Any], dict[str, Any]]] = {
    "jobs": _job_row,
    "tokens": _token_row,
    "registrations": _registration_row,
    "outbox_messages": _outbox_row,
    "audit_events": _audit_row,
    "vendors": _vendor_row,
    "customers": _customer_row,
    "locations": _location_row,
    "contacts": _contact_row,
    "accounts": _account_row,
    "memberships": _membership_row,
    "profiles": _profile_row,
}
"""Record → row dict, by table."""

FROM_ROW: dict[str, Callable[[Mapping[Any, Any]], Any]] = {
    "jobs": _job,
    "tokens": _token,
    "registrations": _registration,
    "outbox_messages": _outbox,
    "audit_events": _audit,
    "vendors": _vendor,
    "customers": _customer,
    "locations": _location,
    "contacts": _contact,
    "accounts": _account,
    "memberships": _membership,
    "profiles": _profile,
}
"""Row mapping → record, by table."""


def column_value(value: object) -> object:
    """A filter value as stored: enums by their value."""
    return getattr(value, "value", value) if not isinstance(value, bool | UUID) else value
