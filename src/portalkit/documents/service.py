"""The document service (``portal.documents``): share, restrict, list, delete, and download
through links signed for one member."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from portalkit import _validation as v
from portalkit._guard import require_admin, vendor_of
from portalkit._ids import ordered_id
from portalkit._service import ident, load, page, save, seen_version
from portalkit.access import ResourceType
from portalkit.actors import Actor, Member
from portalkit.audit.model import describe
from portalkit.documents.model import Document
from portalkit.errors import (
    ConcurrentModification,
    ConfigurationError,
    InvalidToken,
    NotFound,
    Problem,
    StorageError,
    ValidationError,
)
from portalkit.staffrights import DOCUMENTS_MANAGE

if TYPE_CHECKING:
    from portalkit._runtime import Runtime
    from portalkit.access import AccessContext, AccessService
    from portalkit.assets.service import AssetService
    from portalkit.storage.base import UnitOfWork

__all__ = ["DOCUMENTS", "MAX_MEMBERS", "DocumentService"]

DOCUMENTS = ResourceType("documents", view="documents.view", location_field="location_id")
"""The resource type portalkit registers for its documents: seen with ``documents.view``,
within the member's scope for ``documents`` and, for a document at a location, its location
rights. A host must not register another resource type named ``documents``."""

MAX_MEMBERS = 1000
"""The most memberships one document may be restricted to."""

_LINK_VERSION = "d1"
_LINK_MAX = 200


class DocumentService:
    """Files the vendor's staff share with a customer. Reached as ``portal.documents``.

    Example::

        doc = portal.documents.share(staff, customer=acme, name="Service report.pdf",
                                     data=pdf_bytes, members=[kim_membership])
        portal.documents.list(kim)             # [doc]; another member of Acme sees []
        token = portal.documents.link(kim, doc)          # signed for Kim, expires
        document, data = portal.documents.open(kim, token)   # InvalidToken for anyone else

    Staff (and vendor system actors) share, change, restrict and delete; members read what
    their access context shows them: ``documents.view``, the customers of their scope for
    ``documents``, the document's location if it has one, and the document's own
    visibility and member restriction. A read-only "view as customer" reads and downloads
    as the member would, and changes nothing.
    """

    def __init__(self, rt: Runtime, *, access: AccessService, assets: AssetService) -> None:
        self._rt = rt
        self._access = access
        self._assets = assets
        access.register_resource(DOCUMENTS)

    # -- staff: share and change -------------------------------------------------------------
    def share(
        self,
        actor: Actor,
        *,
        customer: Any,
        name: str,
        data: bytes,
        content_type: str | None = None,
        location: Any = None,
        members: Iterable[Any] | None = None,
        visible: bool = True,
    ) -> Document:
        """Share a file with a customer: its bytes go to the asset store, written before the
        commit and removed again if the transaction rolls back.

        ``content_type`` is checked against the bytes (or taken from them when not given;
        see :data:`~portalkit.assets.base.CONTENT_TYPES`); ``location`` ties the document to
        one of the customer's sites; ``members`` restricts it to those memberships of the
        customer (None: every member who may see documents); ``visible=False`` keeps it
        from every member. Another vendor's customer, or a location or membership of
        another customer, is NotFound.
        """
        vendor_id = require_admin(actor, DOCUMENTS_MANAGE)
        problems: list[Problem] = []
        title = v.text(problems, "name", name)
        checked = self._assets.check(problems, "data", data, content_type)
        shown = v.boolean(problems, "visible", visible)
        wanted = _member_ids(problems, members)
        customer_id = ident("customer", customer)
        location_id = ident("location", location) if location is not None else None
        v.raise_if(problems)
        assert checked is not None
        with self._rt.transaction() as uow:
            load(uow.customers, vendor_id, "customer", customer_id, "customer")
            if location_id is not None:
                _check_location(uow, vendor_id, customer_id, location_id)
            if wanted is not None:
                _check_members(uow, vendor_id, customer_id, wanted)
            stored = self._assets.put(checked)
            now = self._rt.clock.now()
            document = Document(
                id=ordered_id(now),
                vendor_id=vendor_id,
                customer_id=customer_id,
                name=title,
                content_type=stored.content_type,
                size=stored.size,
                sha256=stored.sha256,
                asset_key=stored.key,
                uploaded_by=describe(actor),
                created_at=now,
                location_id=location_id,
                visible=shown,
                restricted=wanted is not None,
                members=wanted or frozenset(),
            )
            uow.documents.add(document)
            self._audit(
                uow,
                actor,
                "document_shared",
                document,
                name=title[:100],
                size=document.size,
                content_type=document.content_type,
                visible=shown,
                restricted=document.restricted,
                members=sorted(str(m) for m in document.members),
            )
        return document

    def update(
        self,
        actor: Actor,
        document: Any,
        *,
        name: str | None = None,
        visible: bool | None = None,
        expected_version: int | None = None,
    ) -> Document:
        """Rename a document or show it to members or not (the field-service seed's
        "zichtbaar in de klantportal"); staff only. Unchanged values write nothing."""
        vendor_id = require_admin(actor, DOCUMENTS_MANAGE)
        problems: list[Problem] = []
        changes: dict[str, Any] = {}
        if name is not None:
            changes["name"] = v.text(problems, "name", name)
        if visible is not None:
            changes["visible"] = v.boolean(problems, "visible", visible)
        seen = seen_version(document, expected_version)
        v.raise_if(problems)
        with self._rt.transaction() as uow:
            current = load(uow.documents, vendor_id, "document", document, "document")
            changes = {k: val for k, val in changes.items() if getattr(current, k) != val}
            if not changes:
                if seen is not None and seen != current.version:
                    raise ConcurrentModification("document", current.id)
                return current
            updated = save(uow.documents, current, seen, "document", **changes)
            self._audit(uow, actor, "document_changed", updated, **changes)
            return updated

    def restrict(
        self,
        actor: Actor,
        document: Any,
        members: Iterable[Any] | None,
        *,
        expected_version: int | None = None,
    ) -> Document:
        """Show a document only to these memberships of its customer (``[]``: to none), or,
        with None, to every member who may see documents again; staff only. Links made
        before stop working for every member the new setting hides it from."""
        vendor_id = require_admin(actor, DOCUMENTS_MANAGE)
        problems: list[Problem] = []
        wanted = _member_ids(problems, members)
        seen = seen_version(document, expected_version)
        v.raise_if(problems)
        with self._rt.transaction() as uow:
            current = load(uow.documents, vendor_id, "document", document, "document")
            if wanted is not None:
                _check_members(uow, vendor_id, current.customer_id, wanted)
            restricted, chosen = wanted is not None, wanted or frozenset()
            if (current.restricted, current.members) == (restricted, chosen):
                if seen is not None and seen != current.version:
                    raise ConcurrentModification("document", current.id)
                return current
            updated = save(
                uow.documents, current, seen, "document", restricted=restricted, members=chosen
            )
            self._audit(
                uow,
                actor,
                "document_restricted",
                updated,
                restricted=restricted,
                members=sorted(str(m) for m in chosen),
                before=sorted(str(m) for m in current.members) if current.restricted else None,
            )
            return updated

    def delete(self, actor: Actor, document: Any, *, expected_version: int | None = None) -> None:
        """Delete a document; staff only. Its bytes are removed from the asset store once the
        deletion has committed (a rolled-back delete keeps them)."""
        vendor_id = require_admin(actor, DOCUMENTS_MANAGE)
        seen = seen_version(document, expected_version)
        with self._rt.transaction() as uow:
            current = load(uow.documents, vendor_id, "document", document, "document")
            if seen is not None and seen != current.version:
                raise ConcurrentModification("document", current.id)
            if not uow.delete_document(vendor_id, current.id, current.version):
                raise ConcurrentModification("document", current.id)
            self._assets.discard(current.asset_key)
            self._audit(uow, actor, "document_deleted", current, name=current.name[:100])

    # -- reading -----------------------------------------------------------------------------
    def get(self, actor: Actor, document: Any) -> Document:
        """A document the actor may see; NotFound otherwise (also for one hidden from this
        member, or of another customer or vendor)."""
        return self._visible(self._access.context(actor), document)

    def list(
        self,
        actor: Actor,
        *,
        customer: Any = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Document]:
        """The documents the actor may see, oldest first: staff those of ``customer`` (or
        of the whole vendor), a member those of its scope (or of ``customer`` within it),
        restricted and invisible ones left out. A member without ``documents.view`` is
        refused (PermissionDenied)."""
        limit, offset = page(limit, offset)
        context = self._access.context(actor)
        vendor_id = vendor_of(context.actor)
        customer_id = ident("customer", customer) if customer is not None else None
        with self._rt.transaction(read_only=True) as uow:
            if context.staff:
                where: dict[str, object] = {}
                if customer_id is not None:
                    load(uow.customers, vendor_id, "customer", customer_id, "customer")
                    where["customer_id"] = customer_id
                return uow.documents.list(vendor_id, where=where, limit=limit, offset=offset)
            context.require("documents.view")
            reach = context.reach(DOCUMENTS.name)
            if customer_id is not None and customer_id not in reach:
                raise NotFound("customer", customer_id)
            found = [
                d
                for c in sorted(reach if customer_id is None else {customer_id})
                for d in uow.documents.list(vendor_id, where={"customer_id": c})
                if self._shows(context, d)
            ]
        found.sort(key=lambda d: (d.created_at, str(d.id)))
        return found[offset : offset + limit]

    def download(self, actor: Actor, document: Any) -> tuple[Document, bytes]:
        """A document and its bytes, for staff or a member who may see it (NotFound
        otherwise). A web page gives members :meth:`link` instead, whose URL it can serve
        without a session of the member's."""
        found = self.get(actor, document)
        return found, self._read(found)

    def link(self, actor: Actor, document: Any, *, minutes: int | None = None) -> str:
        """A download token for this member and this document that works for
        ``PORTALKIT_DOCUMENT_LINK_MINUTES`` (or ``minutes``): signed with
        ``PORTALKIT_SECRET_KEY`` over the membership, the document and the expiry.

        Unlike a share token, it works for its member only, and only while that member
        still may see the document: :meth:`open` checks again. NotFound for a document the
        member may not see; staff read with :meth:`download` and get no links.
        """
        context = self._access.context(actor)
        member = context.actor
        if not isinstance(member, Member):
            raise ValidationError.single(
                "actor", "not_member", "download links are made for a member"
            )
        lifetime = self._rt.settings.document_link_minutes if minutes is None else minutes
        if (
            isinstance(lifetime, bool)
            or not isinstance(lifetime, int)
            or not 1 <= lifetime <= 7 * 24 * 60
        ):
            raise ValidationError.single(
                "minutes", "out_of_range", "must be 1 to {limit} minutes", limit=7 * 24 * 60
            )
        found = self._visible(context, document)
        expires = int((self._rt.clock.now() + timedelta(minutes=lifetime)).timestamp())
        body = f"{_LINK_VERSION}.{member.membership_id.hex}.{found.id.hex}.{expires}"
        return f"{body}.{self._signature(member.vendor_id, body)}"

    def open(self, actor: Actor, token: str) -> tuple[Document, bytes]:
        """The document and bytes a :meth:`link` token names, for the member it was made
        for. InvalidToken — one error, one message — for anyone else, a changed or made-up
        token, an expired one, and a member who no longer may see the document (lost
        ``documents.view``, left out by a new restriction, login switched off)."""
        context = self._access.context(actor)
        member = context.actor
        parts = _token_parts(token)
        if parts is None or not isinstance(member, Member):
            raise InvalidToken()
        membership_id, document_id, expires, body, signature = parts
        expected = self._signature(member.vendor_id, body)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise InvalidToken()
        if membership_id != member.membership_id or self._rt.clock.now() >= expires:
            raise InvalidToken()
        try:
            found = self._visible(context, document_id)
        except NotFound:
            raise InvalidToken() from None
        return found, self._read(found)

    # -- helpers -----------------------------------------------------------------------------
    def _visible(self, context: AccessContext, document: Any) -> Document:
        document_id = ident("document", document)
        vendor_id = vendor_of(context.actor)
        with self._rt.transaction(read_only=True) as uow:
            found = uow.documents.get(vendor_id, document_id)
        if found is None or not self._shows(context, found):
            raise NotFound("document", document_id)
        return found

    def _shows(self, context: AccessContext, document: Document) -> bool:
        if context.staff:
            return True  # the document was read within the staff actor's vendor
        member = context.actor
        return (
            isinstance(member, Member)
            and document.shown_to(member.membership_id)
            and context.allows("documents.view", document, DOCUMENTS.name)
        )

    def _read(self, document: Document) -> bytes:
        data = self._assets.read_private(document.asset_key)
        if hashlib.sha256(data).hexdigest() != document.sha256:
            # Served bytes are the ones shared, or none: a changed file is an incident.
            raise StorageError("the stored file of document {id} has changed", id=document.id)
        return data

    def _signature(self, vendor_id: UUID, body: str) -> str:
        secret = self._rt.settings.secret_key.get_secret_value()
        if not secret:
            raise ConfigurationError(
                "PORTALKIT_SECRET_KEY: needed to sign document download links; make one with "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        # A key of its own, so a document link can never stand for another HMAC of the secret.
        key = hmac.new(secret.encode(), b"portalkit document links", hashlib.sha256).digest()
        digest = hmac.new(key, vendor_id.bytes + body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def _audit(
        self, uow: UnitOfWork, actor: Actor, action: str, document: Document, **details: Any
    ) -> None:
        self._rt.record(
            uow,
            vendor_id=document.vendor_id,
            action=action,
            real=actor,
            customer_id=document.customer_id,
            target=f"document:{document.id}",
            **details,
        )


def _member_ids(problems: list[Problem], members: object) -> frozenset[UUID] | None:
    """The membership ids a restriction names (None: no restriction)."""
    if members is None:
        return None
    if isinstance(members, str | bytes) or not isinstance(members, Iterable):
        problems.append(Problem("members", "not_list", "must be a list of memberships"))
        return None
    found: set[UUID] = set()
    for index, member in enumerate(members):
        if index >= MAX_MEMBERS:
            problems.append(
                Problem(
                    "members", "too_many", "at most {limit} memberships", {"limit": MAX_MEMBERS}
                )
            )
            return None
        try:
            found.add(ident("members", member))
        except ValidationError as exc:
            problems.extend(exc.problems)
            return None
    return frozenset(found)


def _check_location(uow: UnitOfWork, vendor_id: UUID, customer_id: UUID, location_id: UUID) -> None:
    place = uow.locations.get(vendor_id, location_id)
    if place is None or place.customer_id != customer_id:
        raise NotFound("location", location_id)


def _check_members(
    uow: UnitOfWork, vendor_id: UUID, customer_id: UUID, members: frozenset[UUID]
) -> None:
    """Every membership named is one of the customer's; another's is NotFound."""
    for membership_id in sorted(members):
        found = uow.memberships.get(vendor_id, membership_id)
        if found is None or found.customer_id != customer_id:
            raise NotFound("membership", membership_id)


def _token_parts(token: object) -> tuple[UUID, UUID, datetime, str, str] | None:
    """A link token's membership, document, expiry, signed body and signature; None for
    anything that is not shaped like one."""
    if not isinstance(token, str) or len(token) > _LINK_MAX or not token.isascii():
        return None
    parts = token.split(".")
    if len(parts) != 5 or parts[0] != _LINK_VERSION:
        return None
    try:
        membership_id, document_id = UUID(hex=parts[1]), UUID(hex=parts[2])
        if not parts[3].isdigit() or len(parts[3]) > 12:
            return None
        expires = datetime.fromtimestamp(int(parts[3]), UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return membership_id, document_id, expires, ".".join(parts[:4]), parts[4]
