"""Copying settings from one customer to another (``portal.copying``): the "take the settings
of another customer environment" choice of the create-customer screen, and the same for
customers that exist already.

What each part copies, and what "independent afterwards" means for it:

``branding``
    The whole :class:`~portalkit.customers.model.Branding` value (logo and e-mail logo,
    template and whatever fields branding gains) but the size-instruction document, which is
    its own part. Branding is a value stored with each customer: the target gets its own copy.
    Uploaded files are referenced by asset id; assets never change (a new logo is a new
    asset), so sharing one is safe.
``size_instructions``
    The size-instruction document reference of the branding (its ``size_instructions*``
    fields); refused while the portal's branding has no such field.
``profiles``
    Permission profiles are the vendor's, not a customer's: every customer's logins choose
    from the same profiles, and a change to one reaches all of its logins at once (by design:
    one "Buyer" profile to maintain). So nothing is copied; the report names the profiles
    the source's logins use, for the operator to give the target's logins.
``assortment``
    The source's own assortment (mode, categories, items, exclusions) becomes the target's
    own record; a source without one (it takes its umbrella's) leaves the target inheriting.
``price_lists``
    The target is added to every price list assigned to the source and to every customer
    group the source is in (groups carry price lists). The lists themselves stay shared —
    their rules are the vendor's prices — but the assignments are the target's own: taking
    the source off a list later leaves the target on it. The target keeps what it had.
``notifications``
    The source's notification defaults (``settings.notification_defaults``: what its new
    logins start subscribed to) become the target's, a value of its own. The logins each
    customer has keep their own subscriptions.

Every part needs ``customers.provision``; ``assortment`` and ``price_lists`` need
``shop.manage`` too, and ``profiles`` needs ``profiles.manage``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final
from uuid import UUID

import attrs

from portalkit import _validation as v
from portalkit._guard import require_admin
from portalkit._service import ident
from portalkit.actors import Actor
from portalkit.assortments.model import Assortment, AssortmentMode
from portalkit.customers.model import Branding, Customer
from portalkit.errors import NotFound, Problem, ValidationError
from portalkit.groups.model import CustomerGroup
from portalkit.pricing.model import PriceList
from portalkit.profiles.model import PermissionProfile
from portalkit.staffrights import CUSTOMERS_PROVISION, PROFILES_MANAGE, SHOP_MANAGE

if TYPE_CHECKING:
    from portalkit._runtime import Runtime
    from portalkit.assortments.service import AssortmentService
    from portalkit.customers.service import CustomerService
    from portalkit.groups.service import GroupService
    from portalkit.pricing.service import PricingService
    from portalkit.storage.base import UnitOfWork

__all__ = [
    "ASSORTMENT",
    "BRANDING",
    "DEFAULT_PARTS",
    "NOTIFICATIONS",
    "PARTS",
    "PRICE_LISTS",
    "PROFILES",
    "SIZE_INSTRUCTIONS",
    "CopyReport",
    "CopyingService",
]

BRANDING: Final = "branding"
"""Logo, e-mail logo and template: the customer's :class:`Branding` value."""
SIZE_INSTRUCTIONS: Final = "size_instructions"
"""The size-instruction document the branding refers to."""
PROFILES: Final = "profiles"
"""The permission profiles the source's logins use (vendor-wide: reported, not copied)."""
NOTIFICATIONS: Final = "notifications"
"""The source's notification defaults: what its new logins start subscribed to."""
ASSORTMENT: Final = "assortment"
"""The source's own shop assortment."""
PRICE_LISTS: Final = "price_lists"
"""The source's price-list assignments and customer-group memberships."""

PARTS: Final[tuple[str, ...]] = (
    BRANDING,
    SIZE_INSTRUCTIONS,
    PROFILES,
    NOTIFICATIONS,
    ASSORTMENT,
    PRICE_LISTS,
)
"""Every part's name, in the order they are copied."""

# The branding fields that name the size-instruction document; branding gains them with
# its assets, and the part follows without a change here.
_SIZE_FIELDS: Final[tuple[str, ...]] = tuple(
    name for name in attrs.fields_dict(Branding) if name.startswith(SIZE_INSTRUCTIONS)
)

DEFAULT_PARTS: Final[tuple[str, ...]] = PARTS
"""What ``parts=None`` copies: every part."""

_SHOP_PARTS: Final = frozenset({ASSORTMENT, PRICE_LISTS})


@attrs.frozen
class CopyReport:
    """What a copy did: the parts, and per part what the target now has from the source.

    ``profiles`` are the (vendor-wide) profiles the source's logins use; ``assortment`` is
    the target's assortment as copied (None: the source has none of its own, so the target
    inherits); ``price_lists`` and ``groups`` are those the target was added to.
    """

    source: Customer
    target: Customer | None
    parts: tuple[str, ...]
    profiles: tuple[PermissionProfile, ...] = ()
    assortment: Assortment | None = None
    price_lists: tuple[PriceList, ...] = ()
    groups: tuple[CustomerGroup, ...] = ()


class CopyingService:
    """Copy chosen parts of one customer's settings to another of the same vendor. Reached
    as ``portal.copying``; provisioning calls it for ``ProvisionRequest(copy_from=...)``.

    Example::

        report = portal.copying.copy_settings(
            staff, source="MODEL", target="ACME", parts=["branding", "assortment"])
        report.parts        # ('branding', 'assortment')
    """

    def __init__(
        self,
        rt: Runtime,
        *,
        customers: CustomerService,
        assortments: AssortmentService,
        pricing: PricingService,
        groups: GroupService,
    ) -> None:
        self._rt = rt
        self._customers = customers
        self._assortments = assortments
        self._pricing = pricing
        self._groups = groups

    def check(
        self, actor: Actor, *, source: Customer | UUID | str, parts: Sequence[str] | None = None
    ) -> tuple[str, ...]:
        """The parts ``parts`` names, in copying order, if the actor may copy them from
        ``source``; writes nothing. ValidationError for a list that is empty or names an
        unknown part, PermissionDenied without the staff permissions the parts
        need, NotFound for a customer that is not the actor's vendor's."""
        chosen = self._allowed(actor, parts)
        with self._rt.transaction(read_only=True) as uow:
            self._load(uow, actor, "source", source)
        return chosen

    def copy(
        self,
        actor: Actor,
        *,
        source: Customer | UUID | str,
        target: Customer | UUID | str,
        parts: Sequence[str] | None = None,
    ) -> CopyReport:
        """Copy ``parts`` (None: :data:`DEFAULT_PARTS`) of ``source``'s settings to
        ``target`` in the caller's transaction (a new one when there is none), audited as
        ``settings_copied``. The same checks as :meth:`check`, and ``source`` and ``target``
        must differ."""
        chosen = self._allowed(actor, parts)
        with self._rt.transaction() as uow:
            vendor_id = require_admin(actor, CUSTOMERS_PROVISION)
            origin = self._load(uow, actor, "source", source)
            dest = self._load(uow, actor, "target", target)
            if origin.id == dest.id:
                raise ValidationError.single(
                    "target", "same_customer", "must be another customer than the source"
                )
            report = CopyReport(source=origin, target=dest, parts=chosen)
            if BRANDING in chosen or SIZE_INSTRUCTIONS in chosen:
                dest = self._branding(actor, origin, dest, chosen)
            if NOTIFICATIONS in chosen:
                dest = self._notifications(actor, origin, dest)
            if PROFILES in chosen:
                report = attrs.evolve(report, profiles=_profiles(uow, vendor_id, origin))
            if ASSORTMENT in chosen:
                report = attrs.evolve(report, assortment=self._assortment(uow, actor, origin, dest))
            if PRICE_LISTS in chosen:
                lists, groups = self._price_lists(uow, actor, origin, dest)
                report = attrs.evolve(report, price_lists=lists, groups=groups)
            dest = uow.customers.get(vendor_id, dest.id) or dest
            self._rt.record(
                uow,
                vendor_id=vendor_id,
                action="settings_copied",
                real=actor,
                customer_id=dest.id,
                target=f"customer:{dest.id}",
                source=f"customer:{origin.id}",
                parts=list(chosen),
                profiles=[str(p.id) for p in report.profiles],
                price_lists=[str(p.id) for p in report.price_lists],
                groups=[str(g.id) for g in report.groups],
            )
            return attrs.evolve(report, target=dest)

    def copy_settings(
        self,
        actor: Actor,
        *,
        source: Customer | UUID | str,
        target: Customer | UUID | str,
        parts: Sequence[str] | None = None,
    ) -> CopyReport:
        """Copy settings between two existing customers, in a transaction of its own: all
        chosen parts or (on any error) none. ``source`` and ``target`` are records, ids or
        customer codes. See :meth:`copy`."""
        with self._rt.transaction():
            return self.copy(actor, source=source, target=target, parts=parts)

    # -- the parts ----------------------------------------------------------------------------
    def _allowed(self, actor: Actor, parts: object) -> tuple[str, ...]:
        """The chosen parts, after the staff permissions they need (before any look-up)."""
        require_admin(actor, CUSTOMERS_PROVISION)
        chosen = _parts(parts)
        if _SHOP_PARTS & set(chosen):
            require_admin(actor, SHOP_MANAGE)
        if PROFILES in chosen:
            require_admin(actor, PROFILES_MANAGE)
        return chosen

    def _load(self, uow: UnitOfWork, actor: Actor, field: str, ref: object) -> Customer:
        """The actor's vendor's customer ``ref`` names (a record, an id or a code)."""
        vendor_id = require_admin(actor, CUSTOMERS_PROVISION)
        if isinstance(ref, str) and not _is_uuid(ref):
            problems: list[Problem] = []
            code = v.code(problems, field, ref)
            v.raise_if(problems)
            by_code = uow.customers.get_by(vendor_id, "code", code)
            if by_code is None:
                raise NotFound("customer", code)
            return by_code
        customer_id = ident(field, ref)
        found = uow.customers.get(vendor_id, customer_id)
        if found is None:
            raise NotFound("customer", customer_id)
        return found

    def _branding(
        self, actor: Actor, origin: Customer, dest: Customer, chosen: tuple[str, ...]
    ) -> Customer:
        names = [
            name
            for name in attrs.fields_dict(Branding)
            if (name in _SIZE_FIELDS and SIZE_INSTRUCTIONS in chosen)
            or (name not in _SIZE_FIELDS and BRANDING in chosen)
        ]
        # Field by field from the whole value: fields branding gains are copied as well.
        branding = attrs.evolve(dest.branding, **{n: getattr(origin.branding, n) for n in names})
        if branding == dest.branding:
            return dest
        return self._customers.update(actor, dest.id, branding=branding)

    def _notifications(self, actor: Actor, origin: Customer, dest: Customer) -> Customer:
        wanted = origin.settings.notification_defaults
        if wanted == dest.settings.notification_defaults:
            return dest
        # A frozenset is a value: the target's defaults share nothing with the source's.
        settings = attrs.evolve(dest.settings, notification_defaults=wanted)
        return self._customers.update(actor, dest.id, settings=settings)

    def _assortment(
        self, uow: UnitOfWork, actor: Actor, origin: Customer, dest: Customer
    ) -> Assortment | None:
        own = uow.assortments.get_by(origin.vendor_id, "customer", origin.id)
        if own is None:
            # No record of its own means "the umbrella's"; the target's becomes that too.
            if uow.assortments.get_by(dest.vendor_id, "customer", dest.id) is not None:
                self._assortments.set(actor, dest.id, mode=AssortmentMode.INHERIT)
            return None
        return self._assortments.set(
            actor,
            dest.id,
            mode=own.mode,
            categories=own.category_ids,
            items=own.item_ids,
            excluded=own.excluded_ids,
        )

    def _price_lists(
        self, uow: UnitOfWork, actor: Actor, origin: Customer, dest: Customer
    ) -> tuple[tuple[PriceList, ...], tuple[CustomerGroup, ...]]:
        lists = tuple(
            self._pricing.update_list(actor, pl.id, customers=pl.customer_ids | {dest.id})
            for pl in uow.price_lists.list(origin.vendor_id)
            if origin.id in pl.customer_ids and dest.id not in pl.customer_ids
        )
        groups = tuple(
            self._groups.update(actor, g.id, customers=g.customer_ids | {dest.id})
            for g in uow.customer_groups.list(origin.vendor_id)
            if origin.id in g.customer_ids and dest.id not in g.customer_ids
        )
        return lists, groups


def _parts(value: object) -> tuple[str, ...]:
    """The parts a caller named, checked, in :data:`PARTS` order (None: the default set)."""
    if value is None:
        return DEFAULT_PARTS
    if isinstance(value, str | bytes) or not isinstance(value, Sequence | set | frozenset):
        raise ValidationError.single("parts", "not_list", "must be a list of names")
    if not value:
        raise ValidationError.single("parts", "empty", "name at least one part to copy")
    problems: list[Problem] = []
    for name in value:
        if not isinstance(name, str) or name not in PARTS:
            problems.append(
                Problem(
                    "parts",
                    "unknown_part",
                    "{name} is not a part that can be copied: one of {choices}",
                    {"name": repr(name)[:100], "choices": ", ".join(PARTS)},
                )
            )
    if problems:
        raise ValidationError(problems)
    return tuple(p for p in PARTS if p in value)


def _profiles(uow: UnitOfWork, vendor_id: UUID, origin: Customer) -> tuple[PermissionProfile, ...]:
    """The profiles the source's logins use, oldest first."""
    used = {
        m.profile_id
        for m in uow.memberships.list(vendor_id, where={"customer_id": origin.id})
        if m.profile_id is not None
    }
    found = [p for p in (uow.profiles.get(vendor_id, i) for i in used) if p is not None]
    return tuple(sorted(found, key=lambda p: (p.created_at, str(p.id))))


def _is_uuid(text: str) -> bool:
    try:
        UUID(text)
    except ValueError:
        return False
    return True
