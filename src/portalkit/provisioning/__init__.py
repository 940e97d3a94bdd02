"""Provisioning: a new customer environment as one run of visible steps, all or nothing.

The workwear seed's "Klant aanmaken" screen: the customer with its addresses and locations,
settings copied from another customer, branding, an optional customer admin with its
invitation, then a summary. Each step reports its status to a progress callback.

Example::

    from portalkit.provisioning import AdminRequest, ProvisionRequest

    summary = portal.provisioning.provision(
        staff,
        ProvisionRequest(
            code="ACME",
            name="Acme B.V.",
            locations=[{"name": "Depot"}],
            admin=AdminRequest(username="acme-admin", email="it@acme.example"),
        ),
        progress=lambda step: print(step.name.value, step.status.value),
    )
"""

from portalkit.provisioning.model import (
    STEPS,
    AdminRequest,
    Invitation,
    LocationRequest,
    ProvisioningFailed,
    ProvisionRequest,
    ProvisionSummary,
    Step,
    StepName,
    StepStatus,
)
from portalkit.provisioning.service import (
    BrandingStore,
    Progress,
    ProvisioningService,
    SettingsCopier,
)

__all__ = [
    "STEPS",
    "AdminRequest",
    "BrandingStore",
    "Invitation",
    "LocationRequest",
    "Progress",
    "ProvisionRequest",
    "ProvisionSummary",
    "ProvisioningFailed",
    "ProvisioningService",
    "SettingsCopier",
    "Step",
    "StepName",
    "StepStatus",
]
