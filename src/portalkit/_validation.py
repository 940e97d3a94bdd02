"""Input checks shared by the services: one place for every rule a field obeys.

Each checker appends :class:`~portalkit.errors.Problem` objects to a list instead of raising, so a
call reports every problem at once; :func:`raise_if` turns the list into one ValidationError.
"""

from __future__ import annotations

import enum
import functools
import re
import reprlib
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

import email_validator

from portalkit.errors import Problem, ValidationError

CODE_MAX = 50
NAME_MAX = 200
SHORT_MAX = 100
TEXT_MAX = 4000
EMAIL_MAX = 254

_CODE_RE = re.compile(r"[A-Za-z0-9_-]+")
# Control characters (C0, DEL, C1) and the Unicode line/paragraph separators would let a value
# break out of a mail header, a log line or a CSV cell.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


SHOWN_MAX = 40

_REPR = reprlib.Repr()  # keyword arguments need Python 3.12
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict = 2, 4, 4
_REPR.maxstring = _REPR.maxother = SHOWN_MAX


def shown(value: object) -> str:
    """A value as an error message may quote it: its ``repr``, cut to about 40 characters.

    Messages quote what was typed so a person sees what is wrong, but never all of it: a 10 MB
    input must not make a 25-million-character message (or log line). Cheap on huge values
    (text is cut before it is quoted) and never raises, whatever ``__repr__`` does.
    """
    if isinstance(value, str | bytes):
        quoted = repr(value[:SHOWN_MAX])
        # Escapes (a lone surrogate is six characters) can make even the cut repr long.
        if len(value) > SHOWN_MAX or len(quoted) > SHOWN_MAX + 3:
            return quoted[: SHOWN_MAX + 2] + "…"
        return quoted
    try:
        quoted = _REPR.repr(value)
    except Exception:
        return f"<{type(value).__name__}>"
    return quoted if len(quoted) <= SHOWN_MAX + 10 else quoted[: SHOWN_MAX + 10] + "…"


def encodable(value: object) -> bool:
    """Whether ``value`` is text every backend can store and every log can write: a ``str``
    that is valid Unicode — no lone surrogate (U+D800 to U+DFFF), which ``json.loads`` returns
    for a ``\\ud800`` escape in a request body and which UTF-8 cannot encode.

    The text checkers here refuse such text already; call this before using a value that does
    not pass through them (a login name, a session value, a search term), and treat ``False``
    like any other bad input.
    """
    if not isinstance(value, str):
        return False
    if value.isascii():
        return True
    return _SURROGATE_RE.search(value) is None


_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")


def _unicode(problems: list[Problem], field: str, value: str) -> bool:
    """Note a value that is not valid Unicode; True when it is fine."""
    if encodable(value):
        return True
    problems.append(
        Problem(field, "invalid_unicode", "must be valid Unicode text (it holds a lone surrogate)")
    )
    return False


def raise_if(problems: list[Problem]) -> None:
    """Raise one ValidationError carrying all problems, if there are any."""
    if problems:
        raise ValidationError(problems)


def text(
    problems: list[Problem],
    field: str,
    value: object,
    *,
    required: bool = True,
    max_length: int = NAME_MAX,
    multiline: bool = False,
) -> str:
    """Check a free-text value; returns it stripped ("" when absent and optional)."""
    if value is None:
        if required:
            problems.append(Problem(field, "required", "is required"))
        return ""
    if not isinstance(value, str):
        problems.append(Problem(field, "not_text", "must be text"))
        return ""
    # Length first, before any work proportional to the input.
    if len(value) > max_length:
        problems.append(
            Problem(
                field, "too_long", "must be at most {limit} characters long", {"limit": max_length}
            )
        )
        return ""
    if not _unicode(problems, field, value):
        return ""
    value = value.strip()
    if required and not value:
        problems.append(Problem(field, "required", "is required"))
        return ""
    # Multi-line fields (notes) may hold line breaks and tabs; nothing else below U+0020.
    checked = re.sub(r"[\r\n\t]", "", value) if multiline else value
    if _CONTROL_RE.search(checked):
        problems.append(
            Problem(
                field, "control_characters", "must not contain line breaks or control characters"
            )
        )
        return ""
    return value


def code(problems: list[Problem], field: str, value: object) -> str:
    """Check a code used in URLs and order numbers: 1–50 letters, digits, ``-`` or ``_``."""
    if value is None:
        problems.append(Problem(field, "required", "is required"))
        return ""
    if not isinstance(value, str):
        problems.append(Problem(field, "not_text", "must be text"))
        return ""
    if len(value) > CODE_MAX:
        problems.append(
            Problem(
                field, "too_long", "must be at most {limit} characters long", {"limit": CODE_MAX}
            )
        )
        return ""
    if not value:
        problems.append(Problem(field, "required", "is required"))
        return ""
    if not _unicode(problems, field, value):
        return ""
    # fullmatch on an ASCII class: str.isalnum() would let in other scripts' digits and letters,
    # which do not survive URLs and ERP order numbers.
    if not _CODE_RE.fullmatch(value):
        problems.append(
            Problem(
                field,
                "invalid_characters",
                "may only contain letters A–Z, digits, '-' and '_'",
            )
        )
        return ""
    return value


def code_key(value: str) -> str:
    """The comparison key of a code or username: case-insensitive."""
    return unicodedata.normalize("NFKC", value).casefold()


def username(problems: list[Problem], field: str, value: object) -> str:
    """Check a username: 1–150 printable characters without spaces at either end."""
    result = text(problems, field, value, max_length=150)
    if result and any(ch.isspace() for ch in result):
        problems.append(Problem(field, "whitespace", "must not contain spaces"))
        return ""
    return unicodedata.normalize("NFKC", result)


def email(problems: list[Problem], field: str, value: object, *, required: bool = True) -> str:
    """Check and normalise an e-mail address (domain IDNA-decoded and lower-cased).

    Uses a strict parser (email-validator), never ``email.utils.parseaddr``, which accepts
    display names, comments and several addresses in one string.
    """
    if value is None or value == "":
        if required:
            problems.append(Problem(field, "required", "is required"))
        return ""
    if not isinstance(value, str):
        problems.append(Problem(field, "not_text", "must be one e-mail address as text"))
        return ""
    if len(value) > EMAIL_MAX:
        problems.append(
            Problem(
                field, "too_long", "must be at most {limit} characters long", {"limit": EMAIL_MAX}
            )
        )
        return ""
    if not _unicode(problems, field, value):
        return ""
    value = value.strip()
    try:
        local, at, domain = value.rpartition("@")
        if at and len(local) <= 64 and _DOT_ATOM_RE.fullmatch(local):
            # The common case: a plain ASCII local part. Only the domain needs the library,
            # and domains repeat (a customer's people share one), so that part is cached.
            return f"{local}@{_checked_domain(domain)}"
        checked = email_validator.validate_email(
            value, check_deliverability=False, allow_quoted_local=False
        )
    except email_validator.EmailNotValidError as exc:
        problems.append(
            Problem(
                field, "invalid_email", "is not a valid e-mail address ({detail})", {"detail": exc}
            )
        )
        return ""
    return str(checked.normalized)


# RFC 5322 dot-atom with ASCII atext only: what email-validator accepts unquoted and leaves as
# it is. Anything else (Unicode, quotes, odd dots) takes the library's full path.
_DOT_ATOM_RE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


@functools.lru_cache(maxsize=4096)
def _checked_domain(domain: str) -> str:
    checked = email_validator.validate_email(f"a@{domain}", check_deliverability=False)
    return str(checked.domain)


def email_key(value: str) -> str:
    """The comparison key of a normalised e-mail address: NFKC, then casefold."""
    return unicodedata.normalize("NFKC", value).casefold()


def choice(problems: list[Problem], field: str, value: object, kind: type[enum.Enum]) -> Any:
    """Check a value of an enum (the member itself or its value), or note the allowed ones."""
    try:
        return value if isinstance(value, kind) else kind(value)
    except ValueError:
        choices = ", ".join(repr(m.value) for m in kind)
        problems.append(
            Problem(field, "invalid_choice", "must be one of {choices}", {"choices": choices})
        )
        return None


def boolean(problems: list[Problem], field: str, value: object) -> bool:
    """Check a flag: only ``True`` or ``False`` (not 0/1, not "yes")."""
    if not isinstance(value, bool):
        problems.append(Problem(field, "not_boolean", "must be true or false"))
        return False
    return value


NOTIFICATION_KIND_RE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")
"""What a notification kind's name looks like: ``invoices``, ``shop.orders``."""
NOTIFICATION_KINDS_MAX = 100
"""How many notification kinds one list (a login's subscriptions, a customer's defaults) holds."""


def notification_kinds(problems: list[Problem], field: str, value: object) -> frozenset[str]:
    """Check a list of notification kinds (None: none): a login's subscriptions, or the
    defaults a customer's new logins start with. Anything but a list of names is refused."""
    if value is None:
        return frozenset()
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        problems.append(Problem(field, "not_list", "must be a list of notification kinds"))
        return frozenset()
    items = list(value)
    if len(items) > NOTIFICATION_KINDS_MAX:
        problems.append(Problem(field, "too_many", "may hold at most 100 kinds"))
        return frozenset()
    good = set()
    for item in items:
        if (
            not isinstance(item, str)
            or len(item) > SHORT_MAX
            or not NOTIFICATION_KIND_RE.fullmatch(item)
        ):
            problems.append(
                Problem(
                    field,
                    "invalid_name",
                    "{item} is not a notification kind like 'invoices'",
                    {"item": shown(item)},
                )
            )
        else:
            good.add(item)
    return frozenset(good)


def only_fields(
    problems: list[Problem], changes: Mapping[str, Any], allowed: frozenset[str], what: str
) -> None:
    """Refuse keys outside an allow-list (mass-assignment protection)."""
    if not isinstance(changes, Mapping):
        problems.append(Problem(what, "not_mapping", "changes must be given as field=value pairs"))
        return
    for key in changes:
        if key not in allowed:
            # The key is the caller's text: quoted short, and never as the raw field name.
            name = key if isinstance(key, str) and len(key) <= 50 and encodable(key) else shown(key)
            problems.append(
                Problem(name, "not_changeable", "cannot be changed on a {kind}", {"kind": what})
            )
