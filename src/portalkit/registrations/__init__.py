"""Self-registration: a person asks for a login; the vendor's staff decide.

The flow of the service-desk seed: someone fills in a form (name, company, e-mail), confirms
the e-mail address through a link, and the request waits as a *pending* registration until
staff approve it (an invited account with its membership in the chosen customer) or reject it
(nothing is created; the audit log keeps the decision).
"""

from portalkit.registrations.model import (
    Registration,
    RegistrationStatus,
)
from portalkit.registrations.service import (
    NAME_IN_MAIL as NAME_IN_MAIL,
)
from portalkit.registrations.service import (
    REGISTRATION_JOB as REGISTRATION_JOB,
)
from portalkit.registrations.service import (
    RegistrationService,
)

__all__ = [
    "Registration",
    "RegistrationService",
    "RegistrationStatus",
]
