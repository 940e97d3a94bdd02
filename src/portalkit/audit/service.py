"""The audit-log service (``portal.audit``): reading the log and tagging a request's events;
:mod:`portalkit.audit` describes the log, ``model.py`` its events. Events are recorded through
the runtime (:meth:`portalkit._runtime.Runtime.record`)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from portalkit import _validation as v
from portalkit._guard import require_admin, vendor_of
from portalkit._service import ident, load, page
from portalkit.actors import Actor, Member
from portalkit.audit.model import AuditEvent
from portalkit.errors import Problem
from portalkit.staffrights import AUDIT_READ

if TYPE_CHECKING:
    from portalkit._runtime import Runtime
    from portalkit.access import AccessService


_REQUEST_ID_MAX = 100

HOST_ACTION = re.compile(r"[a-z][a-z0-9_]{0,39}(\.[a-z][a-z0-9_]{0,39}){1,3}")
"""What a host's own action is called: dotted lowercase words (``order.placed``,
``document.downloaded``). portalkit's own actions have no dot, so no host event can pass
for one of them (a forged ``impersonation_end``, say)."""

DETAILS_MAX = 20
"""The most details a host event carries."""

_DETAIL_TEXT_MAX = 500
_DETAIL_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
# A detail named like a secret (``reset_token``, ``card_number``, ``sessionid``) would put one
# into a log that support staff read. These stems are refused anywhere in the name, joined or
# not (so ``secretary`` is refused too: a false alarm costs a rename, a miss a leaked secret);
# the short ones only as a whole word between underscores, so ``shipping`` or ``author`` pass.
_SECRET_STEMS = (
    "passw",
    "passphrase",
    "passcode",
    "secret",
    "token",
    "session",
    "cookie",
    "credential",
    "apikey",
    "api_key",
    "privatekey",
    "private_key",
    "accesskey",
    "access_key",
    "bearer",
    "jwt",
    "authoriz",
    "signature",
)
_SECRET_WORDS = frozenset(
    ["pw", "pwd", "hash", "otp", "totp", "pin", "cvc", "cvv", "iban", "card", "sid"]
)
# Details travel as keyword arguments beside the event's own fields: a detail of one of these
# names would overwrite a field (``effective`` set the effective actor) or break the call.
_RESERVED = frozenset(
    {"request_id", "uow", "vendor_id", "action", "real", "effective", "customer_id", "target"}
    | {"reason", "outcome"}
)


class AuditService:
    """Read the audit log (staff only). Reached as ``portal.audit``. There is no way to change
    or delete an event through portalkit."""

    def __init__(self, rt: Runtime, *, access: AccessService) -> None:
        self._rt = rt
        self._access = access

    @contextmanager
    def correlate(self, request_id: str) -> Iterator[None]:
        """Tag every event recorded inside the block with the host's ``request_id`` (at most
        100 printable characters), so one request's events can be found together::

            with portal.audit.correlate(request.headers.get("X-Request-Id", "")):
                handle(request)

        An empty id tags nothing. Blocks nest; the inner id applies inside the inner block.
        """
        problems: list[Problem] = []
        checked = v.text(
            problems, "request_id", request_id, required=False, max_length=_REQUEST_ID_MAX
        )
        v.raise_if(problems)
        with self._rt.tagged(checked):
            yield

    def record(
        self,
        actor: Actor,
        action: str,
        *,
        target: str = "",
        reason: str = "",
        outcome: str = "success",
        customer: Any = None,
        details: Mapping[str, Any] | None = None,
    ) -> AuditEvent:
        """Append one of the host's own events — an order placed, a document downloaded —
        to the audit log, beside portalkit's own, and return it.

        ``action`` is dotted lowercase words (:data:`HOST_ACTION`: ``order.placed``); it can
        never be one of portalkit's own actions, which have no dot. ``target`` (what it
        happened to, such as ``order:4711``, up to 200 characters) and ``reason`` (up to 500)
        are one line of text; ``outcome`` is ``success`` or ``failure``; ``details`` holds up
        to :data:`DETAILS_MAX` plain values (text up to 500 characters, numbers, booleans,
        None) under lowercase names — never a secret: a name such as ``password``, ``token``
        or ``session`` is refused. A member's event is its customer's; staff may name the
        ``customer`` (of their vendor). The request id of :meth:`correlate` is added.

        The event is written in the caller's transaction when there is one (so it commits,
        or vanishes, with the host's change), else in a transaction of its own.
        """
        vendor_id = vendor_of(actor)
        self._access.live(actor)  # a login that no longer works records nothing in its name
        problems: list[Problem] = []
        if not isinstance(action, str) or not HOST_ACTION.fullmatch(action):
            problems.append(
                Problem(
                    "action",
                    "invalid",
                    "must be dotted lowercase words, such as order.placed "
                    "(portalkit's own actions have no dot)",
                )
            )
        target = v.text(problems, "target", target, required=False, max_length=200)
        reason = v.text(problems, "reason", reason, required=False, max_length=500)
        if outcome not in ("success", "failure"):
            problems.append(Problem("outcome", "invalid", "must be success or failure"))
        checked = _details(problems, details)
        customer_id = None
        if isinstance(actor, Member):
            if customer is not None and ident("customer", customer) != actor.customer_id:
                problems.append(
                    Problem("customer", "not_allowed", "a member's events are its customer's")
                )
            customer_id = actor.customer_id
        elif customer is not None:
            customer_id = ident("customer", customer)
        v.raise_if(problems)
        with self._rt.transaction() as uow:
            if customer_id is not None and not isinstance(actor, Member):
                load(uow.customers, vendor_id, "customer", customer_id, "customer")
            return self._rt.record(
                uow,
                vendor_id=vendor_id,
                action=action,
                real=actor,
                customer_id=customer_id,
                target=target,
                reason=reason,
                outcome=outcome,
                **checked,
            )

    def list(
        self,
        actor: Actor,
        *,
        customer: Any = None,
        action: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[AuditEvent]:
        """Events of the actor's vendor, oldest first, optionally of one customer or action."""
        vendor_id = require_admin(actor, AUDIT_READ)
        limit, offset = page(limit, offset)
        where: dict[str, object] = {}
        if customer is not None:
            where["customer_id"] = ident("customer", customer)
        if action is not None:
            where["action"] = str(action)
        with self._rt.transaction() as uow:
            return uow.audit.list(vendor_id, where=where, limit=limit, offset=offset)


def _details(problems: list[Problem], details: object) -> dict[str, Any]:
    """A host event's details, checked: few, small, plain, named like no secret."""
    if details is None:
        return {}
    if not isinstance(details, Mapping):
        problems.append(Problem("details", "invalid", "must be a mapping of names to values"))
        return {}
    if len(details) > DETAILS_MAX:
        problems.append(
            Problem("details", "too_many", "holds at most {limit} values", {"limit": DETAILS_MAX})
        )
        return {}
    checked: dict[str, Any] = {}
    for key, value in details.items():
        if not isinstance(key, str) or not _DETAIL_KEY.fullmatch(key) or key in _RESERVED:
            problems.append(
                Problem(
                    "details", "invalid_name", "{name} is not a detail name", {"name": v.shown(key)}
                )
            )
            continue
        if any(stem in key for stem in _SECRET_STEMS) or _SECRET_WORDS.intersection(key.split("_")):
            problems.append(
                Problem(
                    "details",
                    "secret",
                    "{name} names a secret; keep it out of the log",
                    {"name": repr(key)},
                )
            )
            continue
        field = f"details.{key}"
        if isinstance(value, str):
            checked[key] = v.text(
                problems, field, value, required=False, max_length=_DETAIL_TEXT_MAX
            )
        elif value is None or isinstance(value, bool | int | float):
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**53:
                problems.append(Problem(field, "out_of_range", "is too large a number"))
            elif isinstance(value, float) and not math.isfinite(value):
                problems.append(Problem(field, "out_of_range", "must be a finite number"))
            else:
                checked[key] = value
        else:
            problems.append(Problem(field, "invalid", "must be text, a number, a boolean or None"))
    return checked
