"""Mail is never lost: the outbox, retries, dead letters, header safety and real SMTP."""

from __future__ import annotations

import ssl
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portalkit import FixedClock, Portal, PortalSettings, ValidationError
from portalkit.mail import (
    FileMailer,
    MemoryMailer,
    PermanentMailError,
    SmtpMailer,
    TemporaryMailError,
)
from portalkit.outbox import OutboxStatus
from portalkit.testing import World
from smtpsink import SmtpServer, free_port, self_signed


def _world(portal: Portal, mailer: Any = None, **options: Any) -> World:
    portal.mailer = mailer if mailer is not None else portal.mailer
    portal.settings = PortalSettings(**{"mail_from": "portal@vendor.example", **options})
    return World(portal)


def _queue(world: World, n: int = 1, **fields: Any) -> list[Any]:
    return [
        world.portal.mail.enqueue(
            world.staff,
            to=fields.get("to", f"m{i}@customer.example"),
            subject=fields.get("subject", f"Hello {i}"),
            text="Body",
            html=fields.get("html"),
        )
        for i in range(n)
    ]


# -- F1: the transactional outbox ----------------------------------------------------------
def test_a_rolled_back_change_sends_nothing(portal: Portal) -> None:
    mailer = MemoryMailer()
    world = _world(portal, mailer)

    class Abort(Exception):
        pass

    with pytest.raises(Abort), portal.transaction():
        world.customer(code="GONE")
        _queue(world)
        raise Abort
    assert portal.mail.list(world.staff) == []
    assert portal.mail.flush().sent == 0
    assert mailer.outbox == []


def test_a_committed_change_is_delivered_once_right_after_commit(portal: Portal) -> None:
    mailer = MemoryMailer()
    world = _world(portal, mailer)
    with portal.transaction():
        world.customer(code="KEPT")
        (queued,) = _queue(world)
    assert [str(m["Message-ID"]) for m in mailer.outbox] == [queued.message_id]
    assert portal.mail.flush().sent == 0  # nothing left to do
    (stored,) = portal.mail.list(world.staff)
    assert stored.status is OutboxStatus.SENT and stored.attempts == 1
    assert len(mailer.outbox) == 1


# -- F2: retries, back-off, dead letters ---------------------------------------------------
def test_a_temporary_failure_retries_with_back_off_then_delivers_once(portal: Portal) -> None:
    mailer = MemoryMailer()
    world = _world(portal, mailer, mail_retry_seconds=60)
    clock = portal.clock
    assert isinstance(clock, FixedClock)
    mailer.fail_with = TemporaryMailError("connection refused")
    (queued,) = _queue(world)  # the try right after commit fails
    (stored,) = portal.mail.list(world.staff)
    assert stored.status is OutboxStatus.PENDING and stored.attempts == 1
    assert stored.last_error == "connection refused"
    first_wait = stored.next_attempt_at - clock.now()
    assert 60 <= first_wait.total_seconds() <= 72
    assert portal.mail.flush().sent == 0  # not due yet
    clock.advance(seconds=73)
    assert portal.mail.flush().retrying == 1  # second failure
    (stored,) = portal.mail.list(world.staff)
    assert 120 <= (stored.next_attempt_at - clock.now()).total_seconds() <= 144  # doubled
    mailer.fail_with = None
    clock.advance(seconds=145)
    assert portal.mail.flush().sent == 1
    assert [str(m["Message-ID"]) for m in mailer.outbox] == [queued.message_id]  # same id
    assert portal.mail.flush().sent == 0


def test_a_permanent_failure_or_too_many_attempts_make_a_dead_letter(portal: Portal) -> None:
    mailer = MemoryMailer()
    world = _world(portal, mailer, mail_max_attempts=2, mail_retry_seconds=1)
    clock = portal.clock
    assert isinstance(clock, FixedClock)
    mailer.fail_with = PermanentMailError("recipient refused: [550]")
    _queue(world)
    (dead,) = portal.mail.list(world.staff, status="dead")
    assert dead.last_error == "recipient refused: [550]"
    mailer.fail_with = TemporaryMailError("4.4.1 timeout")
    _queue(world, to="other@customer.example")
    clock.advance(seconds=5)
    assert portal.mail.flush().dead == 1  # attempt 2 of 2
    assert len(portal.mail.list(world.staff, status="dead")) == 2
    mailer.fail_with = None
    revived = portal.mail.retry(world.staff, dead)
    assert revived.status is OutboxStatus.PENDING and revived.attempts == 0
    assert portal.mail.flush().sent == 1
    assert len(mailer.outbox) == 1


def test_a_worker_that_died_mid_batch_loses_nothing(portal: Portal) -> None:
    mailer = MemoryMailer()
    world = _world(portal, mailer, mail_send_after_commit=False, mail_lease_seconds=300)
    clock = portal.clock
    assert isinstance(clock, FixedClock)
    _queue(world, 3)
    with portal.transaction() as uow:  # a worker claims, then dies before sending
        claimed = uow.claim_outbox(
            clock.now(), 10, clock.now() + __import__("datetime").timedelta(seconds=300)
        )
    assert len(claimed) == 3
    assert portal.mail.flush().sent == 0  # still leased to the dead worker
    clock.advance(seconds=301)
    assert portal.mail.flush().sent == 3
    assert len(mailer.outbox) == 3


# -- F3: header and address safety ---------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subject", "Hello\r\nBcc: victim@evil.example"),
        ("subject", "Hello\nX-Injected: 1"),
        ("to", "victim@customer.example\r\nBcc: evil@evil.example"),
        ("to", ["victim@customer.example", "evil@evil.example"]),
        ("to", "Victim <victim@customer.example>"),
        ("to", "victim@customer.example, evil@evil.example"),
    ],
)
def test_header_injection_and_smuggled_recipients_are_refused(
    portal: Portal, field: str, value: Any
) -> None:
    world = _world(portal, MemoryMailer())
    with pytest.raises(ValidationError) as caught:
        _queue(world, **{field: value})
    assert caught.value.field == field
    assert portal.mail.list(world.staff) == []


@settings(max_examples=80, deadline=None)
@given(subject=st.text(max_size=120), local=st.from_regex(r"[a-z0-9.]{1,20}", fullmatch=True))
def test_accepted_input_makes_exactly_the_intended_headers(subject: str, local: str) -> None:
    mailer = MemoryMailer()
    world = _world(Portal(mailer=mailer, clock=FixedClock()), mailer)
    to = f"{local}@customer.example"
    try:
        (queued,) = _queue(world, to=to, subject=subject)
    except ValidationError:
        return
    (sent,) = mailer.outbox
    parsed = message_from_bytes(sent.as_bytes(), policy=policy.SMTP)
    assert sorted(parsed.keys()) == sorted(
        [
            "From",
            "To",
            "Subject",
            "Message-ID",
            "Date",
            "Content-Type",
            "Content-Transfer-Encoding",
            "MIME-Version",
        ]
    )
    assert parsed["To"] == queued.to
    assert parsed["Subject"] == queued.subject


def _received(raw: bytes) -> tuple[str, str, str]:
    """Subject, plain text and HTML of a message as a receiving mail program reads them."""
    parsed = message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    plain, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    return (
        str(parsed["Subject"]),
        plain.get_content() if plain is not None else "",
        html.get_content() if html is not None else "",
    )


@settings(max_examples=60, deadline=None)
@given(
    subject=st.text(st.characters(codec="utf-8"), max_size=80),
    text=st.text(st.characters(codec="utf-8"), min_size=1, max_size=300)
    | st.text(st.sampled_from("ab ."), min_size=990, max_size=2500),
    html=st.none() | st.text(st.characters(codec="utf-8"), min_size=1, max_size=200),
)
def test_any_accepted_text_arrives_exactly_as_queued(
    subject: str, text: str, html: str | None
) -> None:
    mailer = MemoryMailer()
    world = _world(Portal(mailer=mailer, clock=FixedClock()), mailer)
    try:
        queued = world.portal.mail.enqueue(
            world.staff, to="jan@customer.example", subject=subject, text=text, html=html
        )
    except ValidationError:
        return
    (sent,) = mailer.outbox
    got_subject, got_text, got_html = _received(sent.as_bytes())
    assert got_subject == queued.subject
    assert got_text.splitlines() == queued.text.splitlines()
    assert got_html.splitlines() == queued.html.splitlines()


# -- real SMTP on 127.0.0.1 ----------------------------------------------------------------
def test_long_lines_accents_and_international_addresses_cross_a_real_server() -> None:
    long_line = "x" * 2500  # SMTP refuses lines over 998 octets: it must be wrapped
    cases = [
        ("jan@customer.example", "Rechnung für März", f"Grüße\n{long_line}\nEnde", "<p>Grüße</p>"),
        ("jan@customer.example", "Plain", "plain ascii\n", None),
        ("jürgen@müller.example", "Straße", "Hallo Jürgen", None),
    ]
    with SmtpServer() as server:
        mailer = SmtpMailer("127.0.0.1", server.port, security="none", timeout=5)
        world = _world(Portal(mailer=mailer, clock=FixedClock()))
        for to, subject, text, html in cases:
            world.portal.mail.enqueue(world.staff, to=to, subject=subject, text=text, html=html)
        assert [status.status for status in world.portal.mail.list(world.staff)] == [
            OutboxStatus.SENT
        ] * 3
        assert len(server.sink.raw) == 3
        for (to, subject, text, html), (recipients, raw) in zip(
            cases, server.sink.raw, strict=True
        ):
            assert recipients == [to]
            assert max(len(line) for line in raw.split(b"\r\n")) <= 998
            got_subject, got_text, got_html = _received(raw)
            assert got_subject == subject
            assert got_text.splitlines() == text.splitlines()
            assert got_html.splitlines() == (html or "").splitlines()


def test_delivery_over_real_smtp_with_starttls_and_login(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    with SmtpServer(tls=(cert, key), login=("portal", "s3cret")) as server:
        context = ssl.create_default_context(cafile=str(cert))
        good = SmtpMailer(
            "127.0.0.1",
            server.port,
            security="starttls",
            username="portal",
            password="s3cret",
            timeout=5,
            ssl_context=context,
        )
        world = _world(Portal(mailer=good, clock=FixedClock()))
        (queued,) = _queue(world, html="<p>Body</p>")
        assert server.sink.message_ids() == [queued.message_id]
        received = server.sink.messages[0]
        assert received.is_multipart()
        bad = SmtpMailer(
            "127.0.0.1",
            server.port,
            security="starttls",
            username="portal",
            password="wrong",
            timeout=5,
            ssl_context=context,
        )
        (error,) = bad.send_many([world.portal.mail._build(queued)])
        assert isinstance(error, TemporaryMailError)
        assert "refused the login" in str(error) and "wrong" not in str(error)
        assert "s3cret" not in repr(good)


def test_the_server_being_down_keeps_mail_queued_until_it_is_back() -> None:
    port = free_port()
    mailer = SmtpMailer("127.0.0.1", port, security="none", timeout=5)
    world = _world(Portal(mailer=mailer, clock=FixedClock()), mail_retry_seconds=1)
    clock = world.portal.clock
    assert isinstance(clock, FixedClock)
    (queued,) = _queue(world)  # refused: nothing listens yet
    (stored,) = world.portal.mail.list(world.staff)
    assert stored.status is OutboxStatus.PENDING and "cannot reach" in stored.last_error
    with SmtpServer(port=port) as server:
        clock.advance(seconds=2)
        assert world.portal.mail.flush().sent == 1
        assert world.portal.mail.flush().sent == 0
        assert server.sink.message_ids() == [queued.message_id]


@pytest.mark.parametrize(
    ("reply", "kind"),
    [("550 no such user", PermanentMailError), ("450 mailbox busy", TemporaryMailError)],
)
def test_smtp_replies_are_sorted_into_temporary_and_permanent(reply: str, kind: type) -> None:
    with SmtpServer() as server:
        server.sink.refuse_recipient = reply
        mailer = SmtpMailer("127.0.0.1", server.port, security="none", timeout=5)
        world = _world(
            Portal(mailer=MemoryMailer(), clock=FixedClock()), mail_send_after_commit=False
        )
        (queued,) = _queue(world)
        (error,) = mailer.send_many([world.portal.mail._build(queued)])
        assert isinstance(error, kind)


def test_the_file_backend_writes_one_eml_per_message(tmp_path: Path) -> None:
    world = _world(Portal(mailer=FileMailer(tmp_path / "mail"), clock=FixedClock()))
    _queue(world, 2)
    files = sorted((tmp_path / "mail").glob("*.eml"))
    assert len(files) == 2
    message = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert message["To"].endswith("@customer.example")
    # Beside each .eml, the same message as a person reads it.
    text = files[0].with_suffix(".txt").read_text(encoding="utf-8")
    assert f"Subject: {message['Subject']}\n" in text and f"To: {message['To']}\n" in text
    body = message.get_body(("plain",))
    assert body is not None and body.get_content().strip() in text
    assert sorted(p.suffix for p in (tmp_path / "mail").iterdir()) == [".eml"] * 2 + [".txt"] * 2


def test_delivery_over_implicit_tls(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    with SmtpServer(tls=(cert, key), implicit_tls=True) as server:
        context = ssl.create_default_context(cafile=str(cert))
        mailer = SmtpMailer(
            "127.0.0.1", server.port, security="tls", timeout=5, ssl_context=context
        )
        world = _world(Portal(mailer=mailer, clock=FixedClock()))
        (queued,) = _queue(world)
        assert server.sink.message_ids() == [queued.message_id]
        untrusting = SmtpMailer("127.0.0.1", server.port, security="tls", timeout=5)
        (error,) = untrusting.send_many([world.portal.mail._build(queued)])
        assert isinstance(error, TemporaryMailError)  # an unknown certificate is refused
        assert server.sink.message_ids() == [queued.message_id]


def test_one_broken_message_does_not_hold_up_the_others(portal: Portal) -> None:
    from cryptography.fernet import Fernet

    old_key = Fernet.generate_key().decode()
    mailer = MemoryMailer()
    world = _world(portal, mailer, mail_send_after_commit=False, mail_encryption_key=old_key)
    world.portal.mail.enqueue(
        world.staff, to="a@customer.example", subject="Secret", text="link", secret=True
    )
    _queue(world)
    portal.settings = PortalSettings(
        mail_from="portal@vendor.example",
        mail_send_after_commit=False,
        mail_encryption_key=Fernet.generate_key().decode(),
    )
    report = portal.mail.flush()
    assert (report.sent, report.dead) == (1, 1)  # the plain one went; the secret one died
    (dead,) = portal.mail.list(world.staff, status="dead")
    assert "cannot build" in dead.last_error and "InvalidToken" in dead.last_error


def test_a_rotated_key_still_opens_what_the_old_one_sealed(portal: Portal) -> None:
    from cryptography.fernet import Fernet

    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    mailer = MemoryMailer()
    world = _world(portal, mailer, mail_send_after_commit=False, mail_encryption_key=old_key)
    world.portal.mail.enqueue(
        world.staff, to="a@customer.example", subject="Secret", text="the link", secret=True
    )
    portal.settings = PortalSettings(
        mail_from="portal@vendor.example", mail_encryption_key=f"{new_key},{old_key}"
    )
    assert portal.mail.flush().sent == 1
    assert mailer.outbox[0].get_content().strip() == "the link"


def test_a_backend_that_raises_gets_a_retry_not_a_crash(portal: Portal) -> None:
    class Exploding:
        def send_many(self, messages: Any) -> Any:
            raise RuntimeError("boom")

    world = _world(portal, Exploding(), mail_send_after_commit=False)
    _queue(world)
    assert portal.mail.flush().retrying == 1
    (stored,) = portal.mail.list(world.staff)
    assert stored.status is OutboxStatus.PENDING and "boom" in stored.last_error


def test_all_mail_of_a_transaction_goes_in_one_delivery(portal: Portal) -> None:
    calls: list[int] = []

    class Counting(MemoryMailer):
        def send_many(self, messages: Any) -> Any:
            calls.append(len(messages))
            return super().send_many(messages)

    world = _world(portal, Counting())
    with portal.transaction():
        _queue(world, 3)
    assert calls == [3]


def test_the_back_off_never_waits_longer_than_the_cap(portal: Portal) -> None:
    mailer = MemoryMailer()
    world = _world(portal, mailer, mail_retry_seconds=60, mail_retry_max_seconds=100)
    clock = portal.clock
    assert isinstance(clock, FixedClock)
    mailer.fail_with = TemporaryMailError("down")
    _queue(world)
    for _ in range(4):
        clock.advance(seconds=101)
        portal.mail.flush()
        (stored,) = portal.mail.list(world.staff)
        assert (stored.next_attempt_at - clock.now()).total_seconds() <= 100


def test_notification_kinds_follow_the_subscription_rules(portal: Portal) -> None:
    world = _world(portal, MemoryMailer())
    portal.mail.register_notification("contracts.signed", "notify_job", "documents.view")
    for bad in ("Contracts", "two words"):
        with pytest.raises(ValidationError):
            portal.mail.register_notification(bad, "notify_job", "documents.view")
    with pytest.raises(ValidationError) as caught:
        portal.mail.register_notification("contracts", "no_such_template", "documents.view")
    assert caught.value.field == "template"
    assert world.membership(subscriptions=["contracts.signed"]).subscriptions == {
        "contracts.signed"
    }


def test_the_console_backend_prints_readable_text() -> None:
    import io

    from portalkit.mail import ConsoleMailer

    stream = io.StringIO()
    world = _world(Portal(mailer=ConsoleMailer(stream), clock=FixedClock()))
    world.portal.mail.enqueue(
        world.staff, to="jan@customer.example", subject="Grüße", text="Één wachtwoord"
    )
    printed = stream.getvalue()
    assert "Subject: Grüße" in printed and "To: jan@customer.example" in printed
    assert "Één wachtwoord" in printed  # decoded, not quoted-printable
