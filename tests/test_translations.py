"""Every message a person may see is in English, Dutch and German (issue 11, item 6).

The raise sites are read from the source (an AST scan), so a new message without its
translation fails here, not in front of a Dutch member. The answers to anonymous callers
(log-in, reset) are the same for a known and an unknown address, in any language.
"""

from __future__ import annotations

import ast
import os
import shutil
import string
import subprocess
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po

import portalkit
from portalkit import Portal
from portalkit.clock import FixedClock
from portalkit.errors import (
    MESSAGE_MAX,
    RECORD_KINDS,
    AuthenticationFailed,
    InvalidToken,
    Message,
    NotFound,
    PasswordRejected,
    PermissionDenied,
    Problem,
    RateLimited,
    ValidationError,
)
from portalkit.i18n import LOCALE, language_of
from portalkit.mail import MemoryMailer
from portalkit.memberships.model import MembershipStatus
from portalkit.passwords import PasswordPolicy
from portalkit.profiles.model import Scope
from portalkit.registrations.model import RegistrationStatus
from portalkit.storage.base import UNIQUE_KEYS
from portalkit.storage.memory import MemoryStorage
from portalkit.testing import World
from portals import GOOD, login_with_password, mail_world

SRC = Path(portalkit.__file__).parent
LANGUAGES = ("nl", "de")

# Where a call's message template is: the argument index by the called name.
TEMPLATE_AT = {
    "Problem": 2,
    "single": 2,
    "PermissionDenied": 0,
    "Conflict": 1,
    "Message": 0,
    "UniqueKey": 3,
}
# Calls whose argument is a msgid shown inside another message (a record's kind, ...).
MSGID_AT = {"_": 0, "RateLimited": 0, "NotFound": 0, "ConcurrentModification": 0, "load": 2}

# Raise sites whose template is not a literal, and why that is right.
NOT_LITERAL = {
    # The constructors pass a template through.
    ("errors.py", "message"),
    ("errors.py", "template"),
    # A storage rule's message: the literals are UniqueKey's (scanned above).
    ("storage/base.py", "self.message"),
    # Jinja's own words on a host's template that uses an undefined value: for the developer.
    ("mail/templates.py", "str(exc)"),
    # An enum's value: checked against the catalogs below.
    ("access.py", "membership.status.value"),
    ("access.py", "scope.value"),
    ("memberships/rights.py", "theirs.value"),
    ("registrations/service.py", "current.status.value"),
    ("inbox/service.py", "current.status.value"),
    ("inbox/service.py", "wanted.value"),
    # Kinds passed along from a literal elsewhere (checked through _what and the tables).
    ("customers/service.py", "self._what"),
    ("storage/memory.py", "self._name.rstrip('s')"),
    ("storage/sqlalchemy/_backend.py", "self._name.rstrip('s')"),
    ("_service.py", "kind"),
    ("_service.py", "what"),  # the callers' what="..." (collected below)
    # Refusals made of Message()s, whose literal templates are scanned where they are made.
    ("access.py", "self.explain(capability, record, resource, location=location)"),
    ("access.py", "context.explain('members.manage')"),
    ("access.py", "context.denied"),
    # The password rules' messages, marked with _() where they are written.
    ("passwords.py", "_REJECTIONS[code]"),
}


def _name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _placeholders(template: str) -> set[str]:
    found = set()
    for _text, field, spec, conversion in string.Formatter().parse(template):
        if field is not None:
            found.add(
                field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            )
    return found


def _names(template: str) -> set[str]:
    return {p.partition("!")[0].partition(":")[0] for p in _placeholders(template)}


def _given(call: ast.Call, name: str) -> set[str] | None:
    """The param names a call passes with its template, or None if they are not literal."""
    if name == "Problem":
        if len(call.args) < 4:
            keywords = [k for k in call.keywords if k.arg == "params"]
            if not keywords:
                return set()
            params: ast.expr = keywords[0].value
        else:
            params = call.args[3]
        if isinstance(params, ast.Dict) and all(isinstance(k, ast.Constant) for k in params.keys):
            return {k.value for k in params.keys if isinstance(k, ast.Constant)}
        return None
    if name == "UniqueKey":
        return set()  # a storage rule's message has no params (its keywords are the rule's)
    if any(k.arg is None for k in call.keywords):
        return None  # **params
    return {k.arg for k in call.keywords if k.arg is not None and k.arg != "language"}


def _scan() -> tuple[dict[str, set[str]], set[str], list[str]]:
    """(template → its sites, other msgids, faults) over every module of portalkit."""
    templates: dict[str, set[str]] = {}
    msgids: set[str] = set()
    faults: list[str] = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        if "/migrations/" in relative:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "_what" for t in node.targets)
                and isinstance(node.value, ast.Constant)
            ):
                msgids.add(node.value.value)
            if not isinstance(node, ast.Call):
                continue
            for keyword in node.keywords:
                if keyword.arg == "what" and isinstance(keyword.value, ast.Constant):
                    msgids.add(keyword.value.value)
            name = _name(node)
            where = f"{relative}:{node.lineno}"
            if name in MSGID_AT and len(node.args) > MSGID_AT[name]:
                arg = node.args[MSGID_AT[name]]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    msgids.add(arg.value)
                elif (relative, ast.unparse(arg)) not in NOT_LITERAL and name != "_":
                    faults.append(f"{where}: {name}() names a kind that is no literal")
            if name not in TEMPLATE_AT or len(node.args) <= TEMPLATE_AT[name]:
                continue
            arg = node.args[TEMPLATE_AT[name]]
            if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                if (relative, ast.unparse(arg)) not in NOT_LITERAL:
                    faults.append(f"{where}: the message of {name}() is no literal template")
                continue
            template = arg.value
            templates.setdefault(template, set()).add(where)
            given = _given(node, name)
            if given is not None and given != _names(template):
                faults.append(
                    f"{where}: {template!r} names {sorted(_names(template))}, "
                    f"the call gives {sorted(given)}"
                )
    return templates, msgids, faults


TEMPLATES, MSGIDS, FAULTS = _scan()


def _catalog(language: str) -> dict[str, Any]:
    with (LOCALE / language / "LC_MESSAGES" / "portalkit.po").open("rb") as source:
        return {m.id: m for m in read_po(source, locale=language) if m.id}


def _pot() -> set[str]:
    with (LOCALE / "portalkit.pot").open("rb") as source:
        return {m.id for m in read_po(source) if m.id}


# -- the catalogs hold every message ----------------------------------------------------------


def test_the_scan_finds_the_raise_sites() -> None:
    # A scan that found nothing would pass everything below.
    assert len(TEMPLATES) > 120
    assert {"is required", "must be one of {choices}", "the membership is {status}"} <= set(
        TEMPLATES
    )
    assert {"customer", "{kind} {ident} not found", "invitations to this login"} <= MSGIDS


def test_every_message_is_a_literal_template_with_its_params() -> None:
    assert FAULTS == []


def test_every_message_is_in_the_template_catalog() -> None:
    """The .pot is what pybabel extracts (see portalkit.i18n): refreshed when a message changes."""
    assert sorted(set(TEMPLATES) - _pot()) == []
    assert sorted(MSGIDS - _pot()) == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_problem_code_has_a_translation_of_each_of_its_messages(language: str) -> None:
    catalog = _catalog(language)
    missing = []
    for template, sites in sorted(TEMPLATES.items()):
        entry = catalog.get(template)
        if entry is None or not entry.string or entry.fuzzy:
            missing.append(f"{template!r} ({', '.join(sorted(sites))})")
    assert missing == []
    assert sorted(m for m in MSGIDS if not (m in catalog and catalog[m].string)) == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_translation_has_the_placeholders_of_its_message(language: str) -> None:
    wrong = [
        (entry.id, entry.string)
        for entry in _catalog(language).values()
        if isinstance(entry.id, str)
        and "python-brace-format" in entry.flags
        and _placeholders(entry.id) != _placeholders(entry.string)
    ]
    assert wrong == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_kind_status_and_scope_an_error_names_is_translated(language: str) -> None:
    tables = {table.rstrip("s") for table in UNIQUE_KEYS}
    literal_kinds = {m for m in MSGIDS if m in RECORD_KINDS or m.islower()}
    assert tables <= set(RECORD_KINDS)
    catalog = _catalog(language)
    words = {
        *RECORD_KINDS,
        *(s.value for s in MembershipStatus),
        *(s.value for s in Scope),
        *(s.value for s in RegistrationStatus),
        *literal_kinds,
    }
    assert sorted(w for w in words if not (w in catalog and catalog[w].string)) == []


def _msgfmt() -> str | None:
    found = shutil.which("msgfmt")
    if found is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("msgfmt (Debian package gettext) is missing; .ci/run installs it")
        pytest.skip("msgfmt not installed (apt-get install gettext); CI=true makes this fail")
    return found


@pytest.mark.parametrize("language", LANGUAGES)
def test_msgfmt_checks_the_catalog(language: str) -> None:
    msgfmt = _msgfmt()
    path = LOCALE / language / "LC_MESSAGES" / "portalkit.po"
    done = subprocess.run(
        [msgfmt, "-c", "--check-format", "-o", os.devnull, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def _portal() -> Portal:
    return Portal(MemoryStorage(), MemoryMailer(), clock=FixedClock())


# -- rendering ----------------------------------------------------------------------------


def test_a_problem_says_its_sentence_in_the_language_the_host_asks_for() -> None:
    problem = Problem("code", "too_long", "must be at most {limit} characters long", {"limit": 50})
    assert problem.message == "must be at most 50 characters long"
    assert problem.text("en") == problem.message
    assert problem.text("nl") == "mag hoogstens 50 tekens lang zijn"
    assert problem.text("de") == "darf höchstens 50 Zeichen lang sein"
    assert problem.text("nl_NL") == problem.text("nl-BE") == problem.text("NL")
    assert problem.text("de-DE") == problem.text("de_CH.UTF-8") == problem.text("de")
    assert dict(problem.params) == {"limit": 50} and problem.code == "too_long"


@pytest.mark.parametrize("language", ["fr", "", "xx-nl", "nl--NL", "n", "de" * 30, None, 7])
def test_a_language_without_texts_is_refused_not_guessed(language: Any) -> None:
    assert language_of(language) is None
    with pytest.raises(ValidationError) as caught:
        Problem("f", "c", "is required").text(language)
    assert (caught.value.field, caught.value.code) == ("language", "unsupported")
    with pytest.raises(ValidationError):
        NotFound("customer", "X").text(language)


def test_a_value_is_shown_as_given_never_read_as_a_template() -> None:
    problem = Problem("name", "invalid_name", "{name} is not a capability name", {"name": "{0}{x}"})
    assert problem.text("de") == "{0}{x} ist kein Name einer Berechtigung"
    # A host's own message without params is its sentence as it is, braces and all.
    assert Problem("x", "own", "use {braces} freely").text("nl") == "use {braces} freely"


def test_a_template_naming_a_missing_param_fails_where_it_is_raised() -> None:
    with pytest.raises(ValueError, match="limit"):
        Problem("f", "too_long", "at most {limit} {unit}", {"unit": "characters"})
    with pytest.raises(ValueError, match="identifiers"):
        ValidationError.single("f", "c", "{x}", **{"not a name": 1, "x": 1})


def test_params_are_bounded_and_immutable() -> None:
    problem = Problem("f", "c", "{value}", {"value": "x" * 10_000})
    assert len(problem.params["value"]) == 200 and len(problem.message) == 200
    with pytest.raises(TypeError):
        problem.params["value"] = "y"  # type: ignore[index]
    with pytest.raises(ValueError, match="at most"):
        Problem("f", "c", "x", {f"p{i}": i for i in range(11)})


def test_validation_errors_from_the_services_translate_every_problem() -> None:
    world = World(_portal())
    with pytest.raises(ValidationError) as caught:
        world.portal.customers.create(world.staff, code="bad code!", name="")
    error = caught.value
    english = str(error)
    assert "may only contain letters" in english and "is required" in english
    dutch = error.text("nl")
    assert "mag alleen letters A–Z" in dutch and "name: is verplicht" in dutch
    assert [p.code for p in error.problems] == ["invalid_characters", "required"]


def test_a_refusal_says_why_in_the_members_language() -> None:
    world = World(_portal())
    profile = world.profile(capabilities={"orders.view"})
    member = world.member(world.membership(profile=profile))
    context = world.portal.access.context(member)
    with pytest.raises(PermissionDenied) as caught:
        context.require("orders.create")
    error = caught.value
    assert str(error) == context.explain("orders.create")
    assert str(error).startswith("denied: profile ")
    assert error.text("de").startswith("verweigert: Profil ")
    assert error.text("nl").endswith("geeft geen orders.create")
    assert error.params["capability"] == "orders.create"


def test_a_denied_context_translates_its_reason() -> None:
    reason = Message("the membership is {status}", status=Message("disabled"))
    error = PermissionDenied(Message("cannot view as this member: {reason}", reason=reason))
    assert str(error) == "cannot view as this member: the membership is disabled"
    assert error.text("de") == (
        "Ansicht als dieses Mitglied nicht möglich: die Mitgliedschaft ist deaktiviert"
    )
    assert error.text("nl") == "kan niet meekijken als dit lid: het lidmaatschap is uitgeschakeld"


def test_errors_name_their_record_in_the_language_too() -> None:
    error = NotFound("permission profile", "Sales")
    assert str(error) == "permission profile Sales not found"
    assert error.text("nl") == "rechtenprofiel Sales niet gevonden"
    assert error.text("de") == "Berechtigungsprofil Sales nicht gefunden"
    limited = RateLimited("invitations to this login")
    assert limited.text("nl") == (
        "te veel uitnodigingen voor deze login in korte tijd; probeer het later opnieuw"
    )


def test_a_rejected_password_keeps_its_codes_and_translates_on_request() -> None:
    with pytest.raises(PasswordRejected) as caught:
        PasswordPolicy(min_length=9).check("kort")
    first = caught.value.problems[0]
    assert (first.code, dict(first.params)["min"]) == ("too_short", 9)
    assert first.message == "Use at least 9 characters."
    assert first.text("nl") == "Gebruik minstens 9 tekens."
    assert first.text("de") == "Verwenden Sie mindestens 9 Zeichen."


# -- anonymous callers: the answer never depends on whose address it named ------------------


def test_a_failed_log_in_reads_the_same_for_a_known_dutch_account_and_an_unknown_one() -> None:
    portal = _portal()
    world = mail_world(portal)
    membership = login_with_password(world)
    account = portal.accounts.get(world.staff, membership.account_id)
    portal.accounts.update(world.staff, account.id, language="nl")
    answers = []
    for username in (account.username, "nobody-here"):
        with pytest.raises(AuthenticationFailed) as caught:
            portal.auth.authenticate(world.vendor, username, GOOD + "!")
        error = caught.value
        answers.append(
            (type(error), str(error), error.template, dict(error.params), error.text("de"))
        )
    assert answers[0] == answers[1]
    assert answers[0][-1] == "der Benutzername oder das Passwort ist nicht korrekt"


def test_a_reset_answer_is_the_same_for_a_known_dutch_account_and_an_unknown_one() -> None:
    portal = _portal()
    world = mail_world(portal)
    membership = login_with_password(world)
    account = portal.accounts.get(world.staff, membership.account_id)
    portal.accounts.update(world.staff, account.id, language="nl")
    # Asking for a link answers nothing either way; a wrong link reads the same for all.
    assert portal.credentials.request_reset(world.vendor, account.email) is None
    assert portal.credentials.request_reset(world.vendor, "nobody@example.com") is None
    texts = []
    for token in ("not-a-token", "x" * 43):
        with pytest.raises(InvalidToken) as caught:
            portal.credentials.reset_password(world.vendor, token, "a new long password 1")
        texts.append((caught.value.template, caught.value.text("de"), caught.value.text("nl")))
    assert texts[0] == texts[1]
    assert texts[0][2] == "deze link is ongeldig of verlopen; vraag een nieuwe aan"


def test_a_joined_message_takes_any_number_of_parts_and_translates_each() -> None:
    parts = [Message("location {location}", location=str(i)) for i in range(1000)]
    joined = Message.joined(["orders.create", *parts], ", ")
    english = ", ".join(["orders.create", *parts])
    # Cut where every message is cut, as the joined string was before.
    assert len(str(joined)) == MESSAGE_MAX and english.startswith(str(joined)[:-1])
    short = Message.joined(["a", *parts[:20]], ", ")
    assert str(short) == ", ".join(["a", *parts[:20]])
    dutch = joined.text("nl")
    assert dutch.startswith("orders.create, locatie 0, locatie 1, ")
    assert dutch.count("locatie") > 100 and "location" not in dutch


def test_a_delegated_admin_hears_what_it_may_not_grant_in_its_language() -> None:
    error = PermissionDenied(
        "you cannot grant what you do not hold: {rights}",
        rights=Message.joined(
            ["invoices.view", Message("{resource} (you see none)", resource="orders")], ", "
        ),
    )
    assert (
        str(error) == "you cannot grant what you do not hold: invoices.view, orders (you see none)"
    )
    assert error.text("de") == (
        "Sie können nicht vergeben, was Sie selbst nicht haben: invoices.view, orders (Sie sehen keine)"
    )
