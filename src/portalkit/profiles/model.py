"""Permission profiles as records: capabilities and scopes per resource type."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from uuid import UUID

import attrs


class Scope(enum.Enum):
    """How far a member sees one resource type, narrowest first."""

    OWN = "own"
    LOCATION = "location"
    CUSTOMER = "customer"
    TREE = "tree"


def _frozen_scopes(value: Mapping[str, Scope]) -> Mapping[str, Scope]:
    # A read-only view: a caller holding the profile cannot change what is stored.
    return MappingProxyType(dict(sorted(value.items())))


@attrs.frozen
class PermissionProfile:
    """What a membership may do (capabilities) and how far it sees (scopes per resource type)."""

    id: UUID
    vendor_id: UUID
    name: str
    created_at: datetime
    capabilities: frozenset[str] = frozenset()
    scopes: Mapping[str, Scope] = attrs.field(factory=dict, converter=_frozen_scopes)
    description: str = ""
    version: int = 1
