"""Permission profiles: named sets of capabilities plus a visibility scope per resource type.

A membership points at one profile; changing the profile changes every membership using it at
once. Profiles are stored per vendor. (Presets that reproduce the seeds, and the registry of
known capabilities, come with access control.)

Example::

    limited = portal.profiles.create(
        staff, name="Limited", capabilities={"orders.view"}, scopes={"orders": "customer"},
    )
"""

from portalkit.profiles.model import (
    PermissionProfile,
    Scope,
)
from portalkit.profiles.service import (
    MAX_CAPABILITIES as MAX_CAPABILITIES,
)
from portalkit.profiles.service import (
    ProfileService,
)

__all__ = [
    "PermissionProfile",
    "ProfileService",
    "Scope",
]
