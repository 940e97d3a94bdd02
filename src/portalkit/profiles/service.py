"""The permission-profile service (``portal.profiles``); :mod:`portalkit.profiles` describes the
concept, ``model.py`` the records."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import attrs

from portalkit import _validation as v
from portalkit._guard import require_admin
from portalkit._service import load, page, save, seen_version
from portalkit._stamps import new_session_stamp
from portalkit.actors import Actor
from portalkit.errors import NotFound, Problem
from portalkit.profiles.model import PermissionProfile, Scope
from portalkit.staffrights import LOGINS_MANAGE, PROFILES_MANAGE

if TYPE_CHECKING:
    from portalkit._runtime import Runtime
    from portalkit.access import AccessService
    from portalkit.presets import ProfileSpec
    from portalkit.storage.base import UnitOfWork


_NAME_RE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")
MAX_CAPABILITIES = 200


def _names(problems: list[Problem], field: str, value: object, limit: int) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        problems.append(Problem(field, "not_list", "must be a list of names"))
        return frozenset()
    items = list(value)
    if len(items) > limit:
        problems.append(
            Problem(field, "too_many", "may hold at most {limit} names", {"limit": limit})
        )
        return frozenset()
    good = set()
    for item in items:
        if not isinstance(item, str) or len(item) > 100 or not _NAME_RE.fullmatch(item):
            problems.append(
                Problem(
                    field,
                    "invalid_name",
                    "{item} is not a name like 'invoices.view' (a-z, 0-9, _ and dots)",
                    {"item": v.shown(item)},
                )
            )
        else:
            good.add(item)
    return frozenset(good)


def _scopes(problems: list[Problem], value: object) -> dict[str, Scope]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.append(Problem("scopes", "not_mapping", "must map resource types to scopes"))
        return {}
    result: dict[str, Scope] = {}
    choices = ", ".join(s.value for s in Scope)
    for resource, scope in value.items():
        if not isinstance(resource, str) or not _NAME_RE.fullmatch(resource) or len(resource) > 100:
            problems.append(
                Problem(
                    "scopes",
                    "invalid_name",
                    "{name} is not a resource type name",
                    {"name": v.shown(resource)},
                )
            )
            continue
        try:
            result[resource] = scope if isinstance(scope, Scope) else Scope(scope)
        except ValueError:
            problems.append(
                Problem(
                    f"scopes.{resource}",
                    "invalid_choice",
                    "must be one of {choices}",
                    {"choices": choices},
                )
            )
    return result


def _known(problems: list[Problem], access: AccessService, names: Iterable[str]) -> None:
    # Deny by default starts here: a misspelt capability must fail now, not silently grant
    # nothing later.
    for name in access.check_capabilities(names):
        problems.append(
            Problem(
                "capabilities",
                "unknown",
                "{name} is not a registered capability",
                {"name": v.shown(name)},
            )
        )


def _known_types(
    problems: list[Problem], access: AccessService, scopes: Mapping[str, Scope]
) -> None:
    # The same for scopes: "order" for "orders" would otherwise leave the orders at their
    # default scope, silently wider or narrower than the profile says.
    for name in access.check_resource_types(scopes):
        problems.append(
            Problem(
                "scopes",
                "unknown",
                "{name} is not a known resource type: register it, or declare its name with "
                "portal.access.declare_resource_types()",
                {"name": v.shown(name)},
            )
        )


class ProfileService:
    """Create, read and change permission profiles. Reached as ``portal.profiles``."""

    _CHANGEABLE = frozenset({"name", "capabilities", "scopes", "description"})

    def __init__(self, rt: Runtime, *, access: AccessService) -> None:
        self._rt = rt
        self._access = access

    def create(
        self,
        actor: Actor,
        *,
        name: str,
        capabilities: Iterable[str] = (),
        scopes: Mapping[str, Scope | str] | None = None,
        description: str | None = None,
    ) -> PermissionProfile:
        """Create a profile of the actor's vendor (Conflict if the name is taken).

        Every capability must be registered and every resource type in ``scopes`` known
        (built in, registered or declared; see
        :meth:`~portalkit.access.AccessService.declare_resource_types`), or ValidationError
        with the code ``"unknown"``.
        """
        vendor_id = require_admin(actor, PROFILES_MANAGE)
        problems: list[Problem] = []
        profile = PermissionProfile(
            id=uuid4(),
            vendor_id=vendor_id,
            created_at=self._rt.clock.now(),
            name=v.text(problems, "name", name, max_length=v.SHORT_MAX),
            capabilities=_names(problems, "capabilities", capabilities, MAX_CAPABILITIES),
            scopes=_scopes(problems, scopes),
            description=v.text(
                problems, "description", description, required=False, max_length=1000
            ),
        )
        _known(problems, self._access, profile.capabilities)
        _known_types(problems, self._access, profile.scopes)
        v.raise_if(problems)
        with self._rt.transaction() as uow:
            uow.profiles.add(profile)
            self._rt.record(
                uow,
                vendor_id=vendor_id,
                action="profile_created",
                real=actor,
                target=f"profile:{profile.id}",
                capabilities=sorted(profile.capabilities),
                scopes={k: s.value for k, s in profile.scopes.items()},
            )
        return profile

    def create_from(
        self, actor: Actor, spec: ProfileSpec, *, name: str | None = None
    ) -> PermissionProfile:
        """Create a profile from a preset (:mod:`portalkit.presets`), optionally renamed."""
        return self.create(
            actor,
            name=name if name is not None else spec.name,
            capabilities=spec.capabilities,
            scopes=spec.scopes,
            description=spec.description,
        )

    def get(self, actor: Actor, profile: PermissionProfile | UUID) -> PermissionProfile:
        """Return a profile of the actor's vendor (staff only), or raise NotFound."""
        vendor_id = require_admin(actor, PROFILES_MANAGE, LOGINS_MANAGE)
        with self._rt.transaction() as uow:
            return load(uow.profiles, vendor_id, "permission profile", profile, "profile")

    def get_by_name(self, actor: Actor, name: str) -> PermissionProfile:
        """Return the profile with this name (case-insensitive; staff only), or raise NotFound."""
        vendor_id = require_admin(actor, PROFILES_MANAGE, LOGINS_MANAGE)
        problems: list[Problem] = []
        name = v.text(problems, "name", name, max_length=v.SHORT_MAX)
        v.raise_if(problems)
        with self._rt.transaction() as uow:
            found = uow.profiles.get_by(vendor_id, "name", name)
        if found is None:
            raise NotFound("permission profile", name)
        return found

    def list(self, actor: Actor, *, limit: int = 100, offset: int = 0) -> list[PermissionProfile]:
        """The vendor's profiles, oldest first (staff only)."""
        vendor_id = require_admin(actor, PROFILES_MANAGE, LOGINS_MANAGE)
        limit, offset = page(limit, offset)
        with self._rt.transaction() as uow:
            return uow.profiles.list(vendor_id, limit=limit, offset=offset)

    def update(
        self,
        actor: Actor,
        profile: PermissionProfile | UUID,
        *,
        expected_version: int | None = None,
        **changes: Any,
    ) -> PermissionProfile:
        """Change name, capabilities, scopes or description; effective for every member at once."""
        vendor_id = require_admin(actor, PROFILES_MANAGE)
        problems: list[Problem] = []
        v.only_fields(problems, changes, self._CHANGEABLE, "permission profile")
        fields: dict[str, Any] = {}
        if "name" in changes:
            fields["name"] = v.text(problems, "name", changes["name"], max_length=v.SHORT_MAX)
        if "capabilities" in changes:
            fields["capabilities"] = _names(
                problems, "capabilities", changes["capabilities"], MAX_CAPABILITIES
            )
        if "scopes" in changes:
            fields["scopes"] = _scopes(problems, changes["scopes"])
            _known_types(problems, self._access, fields["scopes"])
        _known(problems, self._access, fields.get("capabilities", ()))
        if "description" in changes:
            fields["description"] = v.text(
                problems, "description", changes["description"], required=False, max_length=1000
            )
        v.raise_if(problems)
        with self._rt.transaction() as uow:
            current = load(uow.profiles, vendor_id, "permission profile", profile, "profile")
            changed = save(
                uow.profiles,
                current,
                seen_version(profile, expected_version),
                "permission profile",
                **fields,
            )
            if (changed.capabilities, changed.scopes) != (current.capabilities, current.scopes):
                _end_sessions(uow, vendor_id, current.id)
                self._rt.record(
                    uow,
                    vendor_id=vendor_id,
                    action="profile_rights_changed",
                    real=actor,
                    target=f"profile:{current.id}",
                    added=sorted(changed.capabilities - current.capabilities),
                    removed=sorted(current.capabilities - changed.capabilities),
                    scopes={k: s.value for k, s in changed.scopes.items()},
                )
            elif named := sorted(f for f in fields if getattr(changed, f) != getattr(current, f)):
                self._rt.record(
                    uow,
                    vendor_id=vendor_id,
                    action="profile_updated",
                    real=actor,
                    target=f"profile:{current.id}",
                    changed=named,
                )
            return changed


def _end_sessions(uow: UnitOfWork, vendor_id: UUID, profile_id: UUID) -> None:
    """New session stamps for every membership on a profile whose rights changed."""
    for member in uow.memberships.list(vendor_id, where={"profile_id": profile_id}):
        uow.memberships.update(
            attrs.evolve(member, session_stamp=new_session_stamp(), version=member.version + 1),
            member.version,
        )
