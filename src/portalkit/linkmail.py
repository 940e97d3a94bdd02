"""Links by mail: the one-use tokens behind invitation, reset and confirmation links, and the
mail that carries them.

Credentials (invitations, resets) and self-registration (confirmations) issue and redeem
links the same way; this is that one way, shared by both services.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from portalkit.actors import System
from portalkit.errors import InvalidToken
from portalkit.mail.inline import logo_src
from portalkit.tokens import Token, TokenPurpose, new_token, token_digest

if TYPE_CHECKING:
    from portalkit._runtime import Runtime
    from portalkit.accounts.model import Account
    from portalkit.customers.model import Contact, Customer
    from portalkit.memberships.model import Membership
    from portalkit.outbox.delivery import Outbox
    from portalkit.outbox.model import OutboxMessage
    from portalkit.storage.base import UnitOfWork

__all__ = ["TOKEN_MAX", "LinkMail"]

TOKEN_MAX = 200
"""The longest link token portalkit looks up (its own are 43 characters)."""

CLIENT_KEY_MAX = 200
"""The longest client key counted (longer ones are cut)."""


class LinkMail:
    """Issue links (a token stored with the mail that carries it) and redeem them."""

    def __init__(self, rt: Runtime, *, outbox: Outbox) -> None:
        self._rt = rt
        self._outbox = outbox

    def url(self, path: str, raw: str) -> str:
        """The link to ``path`` with ``raw`` in place of ``{token}``."""
        # Links start with the configured address, never with anything from a request.
        return self._rt.settings.base_url.rstrip("/") + path.replace("{token}", raw)

    def peek(self, uow: UnitOfWork, vendor_id: UUID, purpose: TokenPurpose, raw: object) -> Token:
        """The token if it would work now (without using it); InvalidToken otherwise."""
        if not isinstance(raw, str) or not raw or len(raw) > TOKEN_MAX:
            raise InvalidToken()
        found = uow.tokens.get_by(vendor_id, "token", token_digest(raw))
        if found is None or not found.usable(purpose, self._rt.clock.now()):
            raise InvalidToken()
        return found

    def use(self, uow: UnitOfWork, vendor_id: UUID, purpose: TokenPurpose, raw: str) -> Token:
        """Use the token up (once, whoever races for it); InvalidToken if it is gone."""
        used = uow.consume_token(vendor_id, purpose, token_digest(raw), self._rt.clock.now())
        if used is None:  # someone else used it between the look and now
            raise InvalidToken()
        return used

    def client_throttle(
        self, vendor_id: UUID, client_key: str | None, window_start: datetime
    ) -> tuple[str | None, bool]:
        """The throttle key of a client's links (None without a client key), and whether
        that client has had too many dead links in the window (``token-client``: every
        flow's dead links count together, so no flow is a cheaper way to probe)."""
        if not (isinstance(client_key, str) and client_key):
            return None, False
        key = self._rt.throttle_key("token-client", vendor_id, client_key[:CLIENT_KEY_MAX])
        with self._rt.transaction(read_only=True) as uow:
            count = uow.throttle_count([key], window_start)
        return key, count >= self._rt.settings.login_max_failures

    def rejected(
        self,
        vendor_id: UUID,
        purpose: TokenPurpose,
        raw: object,
        key: str | None,
        reason: str,
        now: datetime,
        window_start: datetime,
    ) -> None:
        """Record a link that did not work, and count it for its client (per client only: a
        global count would let anyone stop everyone's links)."""
        # The digest encodes lone surrogates too (surrogatepass): any text has one.
        digest = token_digest(raw) if isinstance(raw, str) and len(raw) <= TOKEN_MAX else ""

        def count(uow: UnitOfWork) -> None:
            if key is not None and reason != "throttled":
                uow.throttle_hit(key, now, window_start)

        self._rt.record_later(
            vendor_id,
            before=count,
            action="token_rejected",
            real=System(vendor_id=vendor_id, reason=f"{purpose.value}_link"),
            target=f"token:{digest[:12]}" if digest else "token:malformed",
            reason=reason,
        )

    def mail_context(self, uow: UnitOfWork, membership: Membership) -> dict[str, Any]:
        """Name, customer and logo for mail about a membership."""
        customer = uow.customers.get(membership.vendor_id, membership.customer_id)
        contact = uow.contacts.get(membership.vendor_id, membership.contact_id)
        assert customer is not None and contact is not None  # foreign keys hold
        return _mail_fields(customer, contact)

    def expires(self, when: datetime, language: str) -> str:
        """When a link stops working, as the mail says it in ``language``."""
        # Babel's date formats only once a link is mailed: importing portalkit stays light.
        from babel.dates import format_datetime

        return f"{format_datetime(when, 'medium', tzinfo=when.tzinfo, locale=language)} UTC"

    def greeting(self, uow: UnitOfWork, account: Account) -> dict[str, Any]:
        """Name, customer and logo for mail to an account: those of its first membership
        (its username, with no customer, if it has none)."""
        return self.greeting_or(uow, account.vendor_id, account, {})

    def greeting_or(
        self, uow: UnitOfWork, vendor_id: UUID, account: Account | None, fallback: dict[str, Any]
    ) -> dict[str, Any]:
        """:meth:`greeting` for ``account``, or ``fallback`` when there is none — after the
        same three look-ups either way (by ids nobody has when there is no account), so that
        the work before a background decision does not tell a known address from an unknown
        one (issue 9)."""
        account_id = account.id if account is not None else uuid4()
        found = uow.memberships.list(vendor_id, where={"account_id": account_id})
        first = found[0] if found else None
        # A list, never the unit of work's cache: a known login's access context may have
        # left its customer there, and a read skipped only for known logins tells them apart.
        customers = uow.customers.list_in(
            vendor_id, "id", [first.customer_id if first else uuid4()]
        )
        customer = customers[0] if customers else None
        contact = uow.contacts.get(vendor_id, first.contact_id if first else uuid4())
        if account is None:
            return fallback
        if customer is None or contact is None:
            return {"name": account.username, "customer_name": "", "logo_url": ""}
        return _mail_fields(customer, contact)

    def prepare(
        self,
        vendor_id: UUID,
        purpose: TokenPurpose,
        email: str,
        hours: float,
        *,
        template: str,
        path: str,
        language: str,
        account_id: UUID | None = None,
        registration_id: UUID | None = None,
        membership_id: UUID | None = None,
        **context: Any,
    ) -> tuple[Token, OutboxMessage]:
        """The CPU work of issuing a link, done outside a transaction: a new token and its
        rendered, sealed mail, stored later by :meth:`store` (inside a write transaction)."""
        now = self._rt.clock.now()
        raw = new_token()
        token = Token(
            id=uuid4(),
            vendor_id=vendor_id,
            purpose=purpose,
            digest=token_digest(raw),
            email=email,
            created_at=now,
            expires_at=now + timedelta(hours=hours),
            account_id=account_id,
            registration_id=registration_id,
            membership_id=membership_id,
        )
        message = self._outbox.compose_template(
            vendor_id,
            to=email,
            template=template,
            language=language,
            secret=True,
            link=self.url(path, raw),
            expires=self.expires(token.expires_at, language),
            **context,
        )
        return token, message

    def store(self, uow: UnitOfWork, prepared: tuple[Token, OutboxMessage]) -> Token:
        """Store a prepared link and its mail; a newer link replaces every older one of its
        kind — for a link bound to a membership (an invitation), the older ones of that
        membership only: another customer's invitation of the same person stays."""
        token, message = prepared
        uow.revoke_tokens(
            token.vendor_id,
            self._rt.clock.now(),
            account_id=token.account_id if token.membership_id is None else None,
            registration_id=token.registration_id,
            membership_id=token.membership_id,
            purposes=[token.purpose],
        )
        uow.tokens.add(token)
        self._outbox.queue(uow, message)
        return token


def _mail_fields(customer: Customer, contact: Contact) -> dict[str, Any]:
    """What mail about a membership says of its person and customer."""
    return {
        "name": contact.full_name,
        "customer_name": customer.name,
        "logo_url": logo_src(customer.branding),
    }
