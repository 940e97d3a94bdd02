"""Retention and erasure (``portal.retention``): remove what has outlived its purpose, and
erase a person on request (GDPR article 17) while the append-only audit log keeps its shape.

``prune`` removes the vendor's dead one-time links and single sign-ins begun, old
failed-login counters and the bodies of delivered mail once their retention period
(``PORTALKIT_RETENTION_*_DAYS``) is over::

    report = portal.retention.prune(staff)            # needs the staff permission data.prune
    report.tokens, report.throttles, report.outbox    # how many of each went

``erase_person`` deletes a person's contact, account, logins, their links, carts,
self-registrations and queued mail, and replaces its names, e-mail addresses and username in
the audit log by a pseudonym (``erased-`` and 16 hex digits): the log keeps every event, with
its id, time, action and outcome, but no longer says who the person was::

    report = portal.retention.erase_person(staff, account=account)   # needs data.erase
    report.pseudonym                                                 # 'erased-3f0c…'

A person still named in business records — orders, quotes, tickets, work requests or inbox
items it filed — is refused with Conflict: those records are kept for the vendor's books
(and their own retention rules), so disable the login and erase the person once they are
gone (docs/retention.md says why that is the choice).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

import attrs

from portalkit._guard import require_admin
from portalkit._service import load
from portalkit._validation import email_key
from portalkit.errors import Conflict, ValidationError
from portalkit.memberships.model import MembershipKind
from portalkit.staffrights import DATA_ERASE, DATA_PRUNE

if TYPE_CHECKING:
    from portalkit._runtime import Runtime
    from portalkit.accounts.model import Account
    from portalkit.actors import Actor
    from portalkit.audit.model import AuditEvent
    from portalkit.customers.model import Contact
    from portalkit.memberships.model import Membership
    from portalkit.storage.base import UnitOfWork

__all__ = ["ErasureReport", "PruneReport", "RetentionService"]

_AUDIT_PAGE = 1000


@attrs.frozen
class PruneReport:
    """What :meth:`RetentionService.prune` removed (or, in a dry run, would remove)."""

    #: One-time links used, revoked or expired more than PORTALKIT_RETENTION_TOKEN_DAYS ago.
    tokens: int
    #: Failed-login counters whose window began more than PORTALKIT_RETENTION_THROTTLE_DAYS ago.
    throttles: int
    #: Delivered or given-up messages older than PORTALKIT_RETENTION_OUTBOX_DAYS whose body
    #: was emptied.
    outbox: int
    dry_run: bool = False
    #: Single sign-ins begun (used or not) that expired more than
    #: PORTALKIT_RETENTION_TOKEN_DAYS ago.
    sso_attempts: int = 0

    #: Session records ended, or unused, more than PORTALKIT_RETENTION_SESSION_DAYS ago
    #: (and past every time-out).
    sessions: int = 0


@attrs.frozen
class ErasureReport:
    """What :meth:`RetentionService.erase_person` removed (or, in a dry run, would remove),
    and the pseudonym the audit log now names the person by."""

    pseudonym: str
    accounts: int
    contacts: int
    memberships: int
    tokens: int
    carts: int
    registrations: int
    outbox_messages: int
    inbox_items: int
    #: Audit events whose text was pseudonymised (none deleted: the log keeps its shape).
    audit_events: int
    dry_run: bool = False
    #: Comments the person wrote on items that stay (other people's tickets, orders...):
    #: kept for the conversation, with the author and the person's names and addresses in
    #: the text replaced by the pseudonym.
    comments: int = 0


class _DryRun(Exception):
    """Raised inside a dry run's transaction so that it rolls back; carries the report."""

    def __init__(self, report: object) -> None:
        super().__init__("dry run")
        self.report = report


@attrs.define
class _Person:
    """Everything of one person found in storage, gathered before anything is deleted."""

    accounts: dict[UUID, Account] = attrs.field(factory=dict)
    contacts: dict[UUID, Contact] = attrs.field(factory=dict)
    memberships: dict[UUID, Membership] = attrs.field(factory=dict)

    def needles(self) -> set[str]:
        """The person's words the audit log must lose: names, addresses, usernames."""
        words = set()
        for account in self.accounts.values():
            words |= {account.username, account.email}
        for contact in self.contacts.values():
            words |= {contact.email, contact.first_name, contact.last_name, contact.full_name}
        return {w for w in words if w and w.strip()}

    def emails(self) -> set[str]:
        """The login addresses of the person's accounts, as stored and in comparison form.

        Only those: a contact's address is typed by whoever made the contact (a customer
        admin too), and could be another person's, whose links and mail must not go."""
        found = {a.email for a in self.accounts.values()}
        return {e for e in found if e} | {email_key(e) for e in found if e}


class RetentionService:
    """Pruning what has outlived its retention period, and erasing a person."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    # -- prune --------------------------------------------------------------------------------
    def prune(self, actor: Actor, *, dry_run: bool = False) -> PruneReport:
        """Remove the vendor's dead one-time links and single sign-ins begun, old failed-login
        counters and delivered mail bodies whose retention period is over; staff holding
        ``data.prune``.

        The periods are ``PORTALKIT_RETENTION_TOKEN_DAYS`` (30, for links and sign-ins
        alike), ``_THROTTLE_DAYS`` (1), ``_OUTBOX_DAYS`` (30) and ``_SESSION_DAYS`` (30; sessions
        ended or last seen that long ago, and never one younger than its idle time-out). A link
        that still works, a counter in its window and mail
        still to send are never touched. Failed-login counters carry no vendor (their keys
        are keyed hashes), so every vendor's old ones go. ``dry_run=True`` counts without
        removing anything (outside a caller's transaction). One ``data_pruned`` event
        records what went.
        """
        vendor_id = require_admin(actor, DATA_PRUNE)
        wanted = _flag("dry_run", dry_run)
        if wanted:
            self._rt.standalone("a dry run")
        settings, now = self._rt.settings, self._rt.clock.now()
        try:
            with self._rt.transaction() as uow:
                dead = now - timedelta(days=settings.retention_token_days)
                report = PruneReport(
                    tokens=uow.prune_tokens(vendor_id, dead),
                    throttles=uow.prune_throttles(
                        now - timedelta(days=settings.retention_throttle_days)
                    ),
                    outbox=uow.purge_outbox(
                        vendor_id, now - timedelta(days=settings.retention_outbox_days)
                    ),
                    sessions=uow.prune_sessions(vendor_id, now - _session_cutoff(settings)),
                    dry_run=wanted,
                    # A sign-in's state is a one-time link of its own kind: kept as long.
                    sso_attempts=uow.prune_sso_attempts(vendor_id, dead),
                )
                if wanted:
                    raise _DryRun(report)
                self._rt.record(
                    uow,
                    vendor_id=vendor_id,
                    action="data_pruned",
                    real=actor,
                    target=f"vendor:{vendor_id}",
                    tokens=report.tokens,
                    throttles=report.throttles,
                    outbox=report.outbox,
                    sso_attempts=report.sso_attempts,
                    sessions=report.sessions,
                )
        except _DryRun as done:
            dry: PruneReport = done.report  # type: ignore[assignment]
            return dry
        return report

    # -- erasure ------------------------------------------------------------------------------
    def _pseudonym(self, vendor_id: UUID, person_id: UUID) -> str:
        """The pseudonym of a person in the audit log: ``erased-`` and the first 16 hex
        digits of an HMAC (under ``PORTALKIT_SECRET_KEY``) of its vendor and record id, so
        nobody without the key can work back from it."""
        # Without a secret key an HMAC under the empty key could be recomputed by anyone who
        # knows the record id: a random key makes the pseudonym one nobody can work back from.
        key = self._rt.throttle_secret or secrets.token_bytes(32)
        digest = hmac.new(
            key, f"erased|{vendor_id}|{person_id}".encode(), hashlib.sha256
        ).hexdigest()
        return f"erased-{digest[:16]}"

    def erase_person(
        self,
        actor: Actor,
        *,
        account: object = None,
        contact: object = None,
        dry_run: bool = False,
    ) -> ErasureReport:
        """Erase a person, named by its ``account`` or its ``contact`` (a record or its id);
        staff holding ``data.erase``.

        The person is the account with every login (membership) it holds and the contact of
        each, or the contact with the logins made of it and their accounts. Deleted: those
        contacts, accounts and logins; their second factor, sessions, passkeys, one-time links, carts, self-registrations (with
        their inbox items) and every queued or sent mail to their addresses. In the audit
        log, the events that name the person keep their id, time, action and outcome, but its
        names, addresses, username and record ids become one pseudonym: ``erased-`` and
        16 hex digits of an HMAC under ``PORTALKIT_SECRET_KEY`` of the vendor and the person's
        first record id (``report.pseudonym``). One ``person_erased`` event,
        naming only the pseudonym, records the erasure.

        Refused with Conflict while orders, quotes, tickets, work requests or inbox items it
        filed or decided exist (they are the vendor's records), and while it holds a
        customer's main account that extra accounts depend on. NotFound for another vendor's
        person. ``dry_run=True`` reports what would go and changes nothing (outside a
        caller's transaction). This cannot be undone.
        """
        vendor_id = require_admin(actor, DATA_ERASE)
        wanted = _flag("dry_run", dry_run)
        if (account is None) == (contact is None):
            raise ValidationError.single(
                "account", "one_of", "give either the account or the contact of the person"
            )
        if wanted:
            self._rt.standalone("a dry run")
        try:
            with self._rt.transaction() as uow:
                report = self._erase(uow, vendor_id, actor, account, contact, wanted)
                if wanted:
                    raise _DryRun(report)
        except _DryRun as done:
            dry: ErasureReport = done.report  # type: ignore[assignment]
            return dry
        return report

    def _erase(
        self,
        uow: UnitOfWork,
        vendor_id: UUID,
        actor: Actor,
        account: object,
        contact: object,
        dry_run: bool,
    ) -> ErasureReport:
        # Orders and the like may be filed while we look; the vendor's lock keeps them out.
        uow.lock_vendor(vendor_id)
        person = _Person()
        if account is not None:
            found = load(uow.accounts, vendor_id, "account", account, "account")
            person.accounts[found.id] = found
            first: UUID = found.id
        else:
            person_contact = load(uow.contacts, vendor_id, "contact", contact, "contact")
            person.contacts[person_contact.id] = person_contact
            first = person_contact.id
        self._gather(uow, vendor_id, person)
        if account is None and len(person.contacts) > 1:
            # A contact's login may be an account that also logs in as someone else's
            # contact (a customer admin can attach an existing account to a new contact):
            # erasing a contact must not take that person along unseen.
            raise Conflict(
                "person",
                "this contact's login belongs to an account with logins as other contacts; "
                "erase the account if all of them are this person",
            )
        self._refuse_if_referenced(uow, vendor_id, person)
        pseudonym = self._pseudonym(vendor_id, first)
        emails = person.emails()
        membership_ids = set(person.memberships)
        account_ids = set(person.accounts)

        registrations = {
            r.id: r
            for a in account_ids
            for r in uow.registrations.list(vendor_id, where={"account_id": a})
        }
        for address in emails:
            registrations |= {
                r.id: r for r in uow.registrations.list(vendor_id, where={"email": address})
            }
        # The person's own record ids: how its audit events are found, and the only id-shaped
        # words an erasure may replace.
        own_ids = {str(i) for i in (*account_ids, *membership_ids, *person.contacts)}
        own_ids |= {str(i) for i in registrations}
        needles = person.needles()
        for registration in registrations.values():
            needles |= {
                registration.email,
                registration.first_name,
                registration.last_name,
                f"{registration.first_name} {registration.last_name}".strip(),
            }
        # Record ids too: the log's links between the person's events then run through the
        # pseudonym, and no id left there leads back to a record a backup may still hold.
        needles |= own_ids
        # A word shaped like a record id replaces only the person's own ids: a username that
        # spells another login's id must not take that id out of the log.
        needles = {n for n in needles if n.strip() and (not _ID.fullmatch(n) or n in own_ids)}

        tokens: set[UUID] = set()
        for field, ids in (
            ("account_id", account_ids),
            ("membership_id", membership_ids),
            ("registration_id", set(registrations)),
        ):
            for value in ids:
                tokens |= {t.id for t in uow.tokens.list(vendor_id, where={field: value})}
        for address in emails:
            tokens |= {t.id for t in uow.tokens.list(vendor_id, where={"email": address})}
        # An integration's access tokens go with the account (its name may be the person's).
        access_tokens = {
            t.id
            for field, ids in (("account_id", account_ids), ("membership_id", membership_ids))
            for value in ids
            for t in uow.access_tokens.list(vendor_id, where={field: value})
        }
        # A session's client key and browser say where the person was.
        sessions = {
            s.id for a in account_ids for s in uow.sessions.list(vendor_id, where={"account_id": a})
        }
        # A passkey's name ("Jan's phone") is the person's too.
        passkeys = {
            p.id for a in account_ids for p in uow.passkeys.list(vendor_id, where={"account_id": a})
        }
        # The TOTP secret and recovery digests are the person's; the account cannot go first.
        factors = {
            f.id
            for a in account_ids
            if (f := uow.second_factors.get_by(vendor_id, "account_id", a)) is not None
        }
        carts = {
            c.id
            for m in membership_ids
            for c in uow.carts.list(vendor_id, where={"membership_id": m})
        }
        mail = {
            m.id for address in emails for m in uow.outbox.list(vendor_id, where={"to": address})
        }
        items = set()
        for registration_id in registrations:
            item = uow.inbox_items.get_by(vendor_id, "reference", (registration_id, "registration"))
            if item is not None:
                items.add(item.id)
        comments = {
            c.id for i in items for c in uow.inbox_comments.list(vendor_id, where={"item_id": i})
        }
        events = {
            e.id for i in items for e in uow.inbox_events.list(vendor_id, where={"item_id": i})
        }
        # The vendor's own "new in the inbox" mail of those items names the person in its
        # subject; it goes to the vendor's address, not the person's, so look for it by item.
        mail |= self._inbox_notices(uow, vendor_id, items)

        # The audit events that name the person: by one of its record ids, its addresses or
        # its usernames. Its names are replaced only inside those, not in other people's.
        # Only by record ids, which nobody chooses: a username or a name is text a customer
        # admin (or a stranger registering) picks, and could be a word of other people's
        # events — "member", an employee's id — whose entries an erasure must never touch.
        named = self._audit_naming(uow, vendor_id, own_ids)

        # Deleted in an order where nothing deleted is still referred to.
        uow.erase(vendor_id, "outbox_messages", mail)
        uow.erase(vendor_id, "tokens", tokens)
        uow.erase(vendor_id, "access_tokens", access_tokens)
        uow.erase(vendor_id, "carts", carts)
        uow.erase(vendor_id, "inbox_events", events)
        uow.erase(vendor_id, "inbox_comments", comments)
        uow.erase(vendor_id, "inbox_items", items)
        uow.erase(vendor_id, "registrations", set(registrations))
        uow.erase(vendor_id, "sessions", sessions)
        uow.erase(vendor_id, "memberships", membership_ids)
        uow.erase(vendor_id, "contacts", set(person.contacts))
        uow.erase(vendor_id, "passkeys", passkeys)
        uow.erase(vendor_id, "second_factors", factors)
        uow.erase(vendor_id, "accounts", account_ids)
        comments_rewritten = self._rewrite_comments(
            uow, vendor_id, account_ids, items, needles, pseudonym
        )
        self._unfollow(uow, vendor_id, account_ids)
        rewritten = (
            uow.pseudonymise_audit(vendor_id, named, dict.fromkeys(needles, pseudonym))
            if named
            else 0
        )
        report = ErasureReport(
            pseudonym=pseudonym,
            accounts=len(account_ids),
            contacts=len(person.contacts),
            memberships=len(membership_ids),
            tokens=len(tokens),
            carts=len(carts),
            registrations=len(registrations),
            outbox_messages=len(mail),
            inbox_items=len(items),
            audit_events=rewritten,
            dry_run=dry_run,
            comments=comments_rewritten,
        )
        if not dry_run:
            self._rt.record(
                uow,
                vendor_id=vendor_id,
                action="person_erased",
                real=actor,
                target=f"person:{pseudonym}",
                **{
                    k: v
                    for k, v in attrs.asdict(report).items()
                    if k not in ("pseudonym", "dry_run")
                },
            )
        return report

    @staticmethod
    def _inbox_notices(uow: UnitOfWork, vendor_id: UUID, items: set[UUID]) -> set[UUID]:
        """The vendor's notices of these inbox items ("New in the inbox: <title>"): queued in
        the transaction that filed the item, so at its time, with its title in the subject."""
        if not items:
            return set()
        filed = [uow.inbox_items.get(vendor_id, i) for i in items]
        found: set[UUID] = set()
        for message in uow.outbox.list(vendor_id, where={"kind": "notify_inbox"}):
            for item in filed:
                if (
                    item is not None
                    and item.title
                    and item.title in message.subject
                    and timedelta(0) <= message.created_at - item.created_at <= _NOTICE_WINDOW
                ):
                    found.add(message.id)
        return found

    @staticmethod
    def _rewrite_comments(
        uow: UnitOfWork,
        vendor_id: UUID,
        account_ids: set[UUID],
        erased_items: set[UUID],
        needles: set[str],
        pseudonym: str,
    ) -> int:
        """Put the pseudonym in place of the person in the comments it wrote on items that
        stay, and in the inbox events that carry those comments to the host's ERP."""
        author = f"member:{pseudonym}"
        pattern = _words(needles)
        done = 0
        for account_id in account_ids:
            written = uow.inbox_comments.list(vendor_id, where={"author": f"member:{account_id}"})
            for comment in written:
                if comment.item_id in erased_items:
                    continue
                text = pattern.sub(pseudonym, comment.text) if pattern else comment.text
                uow.inbox_comments.update(
                    attrs.evolve(comment, author=author, text=text, version=comment.version + 1),
                    comment.version,
                )
                done += 1
                for event in uow.inbox_events.list(vendor_id, where={"item_id": comment.item_id}):
                    carried = event.payload.get("comment")
                    if not isinstance(carried, dict) or carried.get("id") != str(comment.id):
                        continue
                    payload = {**event.payload, "comment": {**carried, "author": author,
                                                            "text": text}}  # fmt: skip
                    uow.inbox_events.update(
                        attrs.evolve(event, payload=payload, version=event.version + 1),
                        event.version,
                    )
        return done

    @staticmethod
    def _unfollow(uow: UnitOfWork, vendor_id: UUID, account_ids: set[UUID]) -> None:
        """Take the person's accounts off the tickets they follow."""
        for ticket in uow.tickets.list(vendor_id):
            if ticket.followers & account_ids:
                uow.tickets.update(
                    attrs.evolve(
                        ticket,
                        followers=ticket.followers - account_ids,
                        version=ticket.version + 1,
                    ),
                    ticket.version,
                )

    @staticmethod
    def _gather(uow: UnitOfWork, vendor_id: UUID, person: _Person) -> None:
        """Follow logins from accounts to contacts and back until nothing new turns up."""
        done_accounts: set[UUID] = set()
        done_contacts: set[UUID] = set()
        while set(person.accounts) - done_accounts or set(person.contacts) - done_contacts:
            for account_id in set(person.accounts) - done_accounts:
                done_accounts.add(account_id)
                for m in uow.memberships.list(vendor_id, where={"account_id": account_id}):
                    person.memberships[m.id] = m
                    if m.contact_id not in person.contacts:
                        found = uow.contacts.get(vendor_id, m.contact_id)
                        if found is not None:
                            person.contacts[found.id] = found
            for contact_id in set(person.contacts) - done_contacts:
                done_contacts.add(contact_id)
                for m in uow.memberships.list(vendor_id, where={"contact_id": contact_id}):
                    person.memberships[m.id] = m
                    if m.account_id not in person.accounts:
                        owner = uow.accounts.get(vendor_id, m.account_id)
                        if owner is not None:
                            person.accounts[owner.id] = owner

    @staticmethod
    def _refuse_if_referenced(uow: UnitOfWork, vendor_id: UUID, person: _Person) -> None:
        """Conflict while business records name the person, or extras hang on its main
        account."""
        checks: list[tuple[Any, str, set[UUID]]] = [
            (uow.orders, "membership_id", set(person.memberships)),
            (uow.orders, "decided_by", set(person.memberships)),
            (uow.quotes, "membership_id", set(person.memberships)),
            (uow.quotes, "decided_by", set(person.memberships)),
            (uow.quote_messages, "membership_id", set(person.memberships)),
            (uow.tickets, "account_id", set(person.accounts)),
            (uow.work_requests, "account_id", set(person.accounts)),
            (uow.inbox_items, "account_id", set(person.accounts)),
            (uow.inbox_items, "membership_id", set(person.memberships)),
        ]
        for repo, field, ids in checks:
            for value in ids:
                if repo.list(vendor_id, where={field: value}, limit=1):
                    raise Conflict(
                        "person",
                        "this person is named in orders, quotes, tickets, work requests or "
                        "inbox items, which the vendor keeps as business records; disable "
                        "its logins now and erase it once those records are gone",
                    )
        for membership in person.memberships.values():
            if membership.kind is not MembershipKind.MAIN:
                continue
            extras = uow.memberships.list(
                vendor_id,
                where={"customer_id": membership.customer_id, "kind": MembershipKind.EXTRA},
            )
            if any(m.id not in person.memberships for m in extras):
                raise Conflict(
                    "person",
                    "this person holds a customer's main account, which that customer's "
                    "extra accounts depend on; make another login the main account first",
                )

    @staticmethod
    def _audit_naming(uow: UnitOfWork, vendor_id: UUID, markers: set[str]) -> set[UUID]:
        """The ids of the vendor's audit events whose text holds one of ``markers`` as a
        whole word (ignoring case): a username "tom" is not found in "customer"."""
        wanted = [m for m in markers if m.strip()]
        if not wanted:
            return set()
        pattern = re.compile(
            r"(?<!\w)(?:" + "|".join(re.escape(m) for m in wanted) + r")(?!\w)", re.IGNORECASE
        )
        found: set[UUID] = set()
        offset = 0
        while True:
            batch = uow.audit.list(vendor_id, limit=_AUDIT_PAGE, offset=offset)
            for event in batch:
                if pattern.search(_event_text(event)):
                    found.add(event.id)
            if len(batch) < _AUDIT_PAGE:
                return found
            offset += _AUDIT_PAGE


#: How long after an item its notice may have been queued (the same transaction, a slow one).
_NOTICE_WINDOW = timedelta(minutes=5)


def _session_cutoff(settings: Any) -> timedelta:
    # Never a session that could still be used: past the idle time-out whatever the setting.
    return max(
        timedelta(days=settings.retention_session_days),
        timedelta(minutes=settings.session_idle_minutes),
    )


def _words(needles: set[str]) -> re.Pattern[str] | None:
    """One pattern for every needle as a whole word, ignoring case, longest first (so a full
    name goes before its parts); None without needles."""
    wanted = sorted((n for n in needles if n.strip()), key=len, reverse=True)
    if not wanted:
        return None
    return re.compile(
        r"(?<!\w)(?:" + "|".join(re.escape(n) for n in wanted) + r")(?!\w)", re.IGNORECASE
    )


_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def _event_text(event: AuditEvent) -> str:
    """An event's words in one string, to look for a person in."""
    details = json.dumps(dict(event.details), default=str, ensure_ascii=False)
    return " ".join(
        (event.real_actor, event.effective_actor, event.target, event.reason, details)
    ).lower()


def _flag(field: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValidationError.single(field, "not_boolean", "must be true or false")
    return value
