"""Templates in three languages, encrypted secrets in the outbox, and notifications that respect
what each member may see."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from portalkit import ConfigurationError, Portal, PortalSettings, ValidationError, presets
from portalkit.mail import MemoryMailer, TemporaryMailError
from portalkit.mail.templates import TEMPLATES, MailTemplates
from portalkit.outbox import OutboxStatus
from portalkit.testing import World

CONTEXT = {
    "name": "Jan <b>de Vries</b>",
    "link": "https://portal.example/accept?t=abc&u=1",
    "expires": "24-11-2026 10:00",
    "portal_name": "Acme portal",
    "customer_name": "Bakker & Zn <script>",
    "username": "jan",
    "password": "Tr1cky<pw>",
    "title": "Q-2026-001 <img src=x onerror=alert(1)>",
    "logo_url": "https://cdn.example/logo.png",
    "minutes": 30,
    "reason": "ticket <4711>",
    "status": "in_progress",
    "number": "ACME-000001",
    "new_email": "jan@new.example",
}


@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize("language", ["en", "nl", "de"])
def test_every_template_renders_in_every_language(template: str, language: str) -> None:
    rendered = MailTemplates().render(template, language, **CONTEXT)
    for part in (rendered.subject, rendered.text, rendered.html):
        assert "%(" not in part and "{{" not in part  # no placeholder left unfilled
    assert "\n" not in rendered.subject and rendered.subject
    # User data is escaped in HTML, never markup.
    assert "<script>" not in rendered.html and "<img src=x" not in rendered.html
    assert "<b>de Vries</b>" not in rendered.html
    assert '<img src="https://cdn.example/logo.png"' in rendered.html  # the customer's logo
    assert "Bakker &amp; Zn &lt;script&gt;" in rendered.html
    if template != "view_as_notice":  # every other message carries a link
        assert "https://portal.example/accept?t=abc&amp;u=1" in rendered.html
    if language != "en":
        english = MailTemplates().render(template, "en", **CONTEXT)
        assert rendered.subject != english.subject  # really translated
        assert rendered.text != english.text


def test_catalogs_translate_every_message() -> None:
    from babel.messages.pofile import read_po

    import portalkit.i18n

    root = Path(portalkit.i18n.__file__).parent / "locale"
    with (root / "portalkit.pot").open("rb") as source:
        wanted = {m.id for m in read_po(source) if m.id}
    for language in ("nl", "de"):
        with (root / language / "LC_MESSAGES" / "portalkit.po").open("rb") as source:
            catalog = read_po(source, locale=language)
        translated = {m.id: m.string for m in catalog if m.id}
        assert wanted <= translated.keys(), language
        assert all(translated[i] and translated[i] != i for i in wanted), language


def test_a_host_app_overrides_a_template(tmp_path: Path) -> None:
    (tmp_path / "notify_job.subject.txt").write_text("Klaar: {{ title }}")
    rendered = MailTemplates(tmp_path).render("notify_job", "nl", **CONTEXT)
    assert rendered.subject.startswith("Klaar: Q-2026-001")
    assert "Er is een opdracht voltooid." in rendered.text  # the rest is still ours


def test_missing_values_and_unknown_templates_are_clear_errors() -> None:
    with pytest.raises(ValidationError) as caught:
        MailTemplates().render("password_reset", "en", name="x")
    assert caught.value.field == "context"
    with pytest.raises(ValidationError) as caught:
        MailTemplates().render("nope", "en", **CONTEXT)
    assert caught.value.field == "template"
    with pytest.raises(ValidationError):
        MailTemplates().render("invitation", "fr", **CONTEXT)


# -- secrets in the outbox -----------------------------------------------------------------
def _mail_world(portal: Portal, **options: Any) -> tuple[World, MemoryMailer]:
    mailer = MemoryMailer()
    portal.mailer = mailer
    portal.settings = PortalSettings(
        mail_from="portal@vendor.example",
        mail_encryption_key=Fernet.generate_key().decode(),
        **options,
    )
    return World(portal), mailer


def _stored_text(portal: Portal, backend: str) -> str:
    """Everything the outbox table holds, as text, straight from storage."""
    storage: Any = portal.storage
    if backend == "memory":
        return repr(
            [(m.text, m.html, m.subject) for m in storage._tables.rows["outbox_messages"].values()]
        )
    with storage.engine.connect() as conn:
        return repr(conn.execute(text("SELECT text, html, subject FROM outbox_messages")).all())


def test_a_secret_is_encrypted_while_queued_and_purged_once_sent(
    portal: Portal, backend: str
) -> None:
    world, mailer = _mail_world(portal)
    mailer.fail_with = TemporaryMailError("server down")
    token = "tok_" + "x7" * 20
    world.portal.mail.send_template(
        world.staff,
        to="jan@customer.example",
        template="password_reset",
        language="nl",
        secret=True,
        name="Jan",
        link=f"https://portal.example/reset?t={token}",
        expires="morgen",
    )
    stored = _stored_text(portal, backend)
    assert token not in stored  # encrypted at rest while it waits
    mailer.fail_with = None
    clock: Any = portal.clock
    clock.advance(hours=1)
    assert portal.mail.flush().sent == 1
    assert token in mailer.outbox[0].get_body(("plain",)).get_content()  # delivered intact
    (sent,) = portal.mail.list(world.staff, status=OutboxStatus.SENT)
    assert sent.text == "" and sent.html == ""  # purged after delivery
    assert token not in _stored_text(portal, backend)


def test_a_secret_needs_an_encryption_key(portal: Portal) -> None:
    world, _ = _mail_world(portal)
    portal.settings = PortalSettings(mail_from="portal@vendor.example")
    with pytest.raises(ConfigurationError, match="PORTALKIT_MAIL_ENCRYPTION_KEY"):
        portal.mail.enqueue(
            world.staff, to="a@customer.example", subject="s", text="t", secret=True
        )
    assert portal.mail.list(world.staff) == []


# -- notifications -------------------------------------------------------------------------
def test_notifications_reach_subscribed_members_who_may_see_the_record(
    portal: Portal,
) -> None:
    world, mailer = _mail_world(portal)
    portal.access.register_resource(
        __import__("portalkit").ResourceType(
            "invoices", view="invoices.view", location_field="site_id"
        )
    )
    customer = world.customer(
        name="Bakker B.V.", branding={"email_logo_url": "https://cdn.example/bakker.png"}
    )
    site, other_site = world.location(customer), world.location(customer)
    full = portal.profiles.create_from(world.staff, presets.TRANSPORT_FULL)
    limited = portal.profiles.create_from(world.staff, presets.TRANSPORT_LIMITED)
    payer = world.membership(
        customer=customer,
        profile=full,
        subscriptions=["invoices"],
        account=world.account(email="payer@customer.example", language="de"),
    )
    world.membership(customer=customer, profile=limited, subscriptions=["invoices"])
    world.membership(customer=customer, profile=full, subscriptions=["jobs"])
    world.membership(
        customer=customer,
        profile=full,
        subscriptions=["invoices"],
        location_grants={other_site: "read"},
    )
    invoice = {"customer_id": customer.id, "site_id": site.id}
    queued = portal.mail.notify(
        world.staff,
        customer,
        "invoices",
        title="F-1001",
        link="https://portal.example/invoices/1001",
        record=invoice,
        resource="invoices",
    )
    assert [m.to for m in queued] == ["payer@customer.example"]
    (mail,) = mailer.outbox
    assert mail["Subject"] == "Neue Rechnung: F-1001"  # the member's language
    html = mail.get_body(("html",)).get_content()
    assert "https://cdn.example/bakker.png" in html
    assert payer.account_id  # the one who may see invoices at that site


def test_branding_urls_must_be_https(world: World) -> None:
    with pytest.raises(ValidationError) as caught:
        world.customer(branding={"email_logo_url": "javascript:alert(1)"})
    assert caught.value.field == "branding.email_logo_url"
    customer = world.customer(branding={"logo_url": "https://cdn.example/l.png"})
    assert world.portal.customers.get(world.staff, customer.id).branding.logo_url == (
        "https://cdn.example/l.png"
    )


def test_a_dead_secret_cannot_be_retried_but_must_be_sent_anew(portal: Portal) -> None:
    from portalkit.mail import PermanentMailError

    world, mailer = _mail_world(portal)
    mailer.fail_with = PermanentMailError("550 no such user")
    portal.mail.enqueue(
        world.staff,
        to="gone@customer.example",
        subject="Reset",
        text="https://portal.example/reset?t=secret",
        secret=True,
    )
    (dead,) = portal.mail.list(world.staff, status="dead")
    assert dead.text == ""
    with pytest.raises(ValidationError) as caught:
        portal.mail.retry(world.staff, dead)
    assert caught.value.code == "purged"
