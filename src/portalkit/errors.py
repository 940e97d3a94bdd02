"""The errors portalkit raises: one hierarchy, each error saying what a person must fix.

Every public call raises only subclasses of :class:`PortalError`. A failed call changes nothing.
Error classes also inherit the matching standard exception where one fits, so
``except LookupError`` still catches :class:`NotFound`.

Example::

    try:
        portal.customers.create(actor, code="bad code!", name="Acme")
    except ValidationError as exc:
        for problem in exc.problems:
            print(problem.field, problem.code, problem.message)
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

__all__ = [
    "MESSAGE_MAX",
    "AuthenticationFailed",
    "ConcurrentModification",
    "ConfigurationError",
    "Conflict",
    "ImproperlyInstalled",
    "InvalidToken",
    "NotFound",
    "PasswordExpired",
    "PasswordRejected",
    "PermissionDenied",
    "PortalError",
    "Problem",
    "RateLimited",
    "StorageError",
    "ValidationError",
]


MESSAGE_MAX = 2000
"""The longest message an error holds; longer ones are cut (see :class:`PortalError`)."""


def _bounded(value: object, limit: int) -> str:
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    if not text.isascii():
        # A lone surrogate would make the message unloggable (UTF-8 cannot encode it).
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _field_text(value: object) -> str:
    return _bounded(value, 100)


def _code_text(value: object) -> str:
    return _bounded(value, 50)


def _message_text(value: object) -> str:
    return _bounded(value, 500)


@attrs.frozen
class Problem:
    """One thing wrong with an input: which field, which rule, and a sentence for a person.

    ``code`` is a stable machine-readable rule name (``"required"``, ``"too_long"``,
    ``"invalid_characters"``, …) that host apps may translate; ``message`` is English. Each is
    cut to a sane length (field 100, code 50, message 500 characters) and made valid Unicode,
    so no input can make a problem that floods a log or cannot be written to one.
    """

    field: str = attrs.field(converter=_field_text)
    code: str = attrs.field(converter=_code_text)
    message: str = attrs.field(converter=_message_text)


class PortalError(Exception):
    """Base class of every error portalkit raises on purpose.

    A text message is cut to :data:`MESSAGE_MAX` characters and made valid Unicode.
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*(_bounded(a, MESSAGE_MAX) if isinstance(a, str) else a for a in args))


class ValidationError(PortalError, ValueError):
    """Input broke one or more rules; :attr:`problems` lists all of them at once.

    Nothing was written. ``field`` and ``code`` are those of the first problem, for the common
    case of a single problem.
    """

    def __init__(self, problems: Iterable[Problem]) -> None:
        #: Every problem found, in the order of the call's arguments.
        self.problems: tuple[Problem, ...] = tuple(problems)
        if not self.problems:
            raise ValueError("ValidationError needs at least one problem")
        first = self.problems[0]
        #: The field of the first problem.
        self.field = first.field
        #: The rule code of the first problem.
        self.code = first.code
        # Hundreds of problems (a long list of bad names) would make a huge message.
        parts: list[str] = []
        size = 0
        for p in self.problems:
            part = f"{p.field}: {p.message}"
            size += len(part) + 2
            if size > MESSAGE_MAX:
                parts.append(f"… ({len(self.problems)} problems in all)")
                break
            parts.append(part)
        super().__init__("; ".join(parts))

    @classmethod
    def single(cls, field: str, code: str, message: str) -> ValidationError:
        """Build the error for one problem."""
        return cls([Problem(field, code, message)])


class NotFound(PortalError, LookupError):
    """The record does not exist, or the actor may not know that it exists.

    Another vendor's or another customer's record gives this error too, never
    :class:`PermissionDenied`: an error must not tell an outsider that a record exists.
    """

    def __init__(self, kind: str, ident: object) -> None:
        #: What was looked for: ``"customer"``, ``"account"``, …
        self.kind = kind
        #: The id or key that was looked for (shortened in the message).
        self.ident = ident
        shown = str(ident)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        super().__init__(f"{kind} {shown} not found")


class Conflict(PortalError):
    """The change clashes with stored data, such as a customer code or username already taken.

    ``field`` names the input that clashes.
    """

    def __init__(self, field: str, message: str) -> None:
        #: The input that clashes (``"code"``, ``"username"``, …).
        self.field = field
        super().__init__(message)


class ConcurrentModification(Conflict):
    """Someone else changed the record since it was read; read it again and retry."""

    def __init__(self, kind: str, ident: object) -> None:
        self.kind = kind
        self.ident = ident
        super().__init__(
            "version",
            f"{kind} {ident!s} was changed by someone else since it was read; "
            "load it again and repeat the change",
        )


class PermissionDenied(PortalError, PermissionError):
    """The actor is known but may not do this."""


class AuthenticationFailed(PortalError):
    """Log-in failed. The message is the same whatever the reason, so it reveals nothing."""

    def __init__(self) -> None:
        super().__init__("the username or password is not correct")


class StorageError(PortalError):
    """The storage backend failed: the database is unreachable, its schema is missing or old,
    or a statement failed. Nothing of the call was kept; the message says what the database
    said (never the data)."""


class ConfigurationError(PortalError):
    """A setting has a wrong value; the message names the environment variable."""


class ImproperlyInstalled(PortalError, ImportError):
    """An optional dependency is missing; the message gives the ``pip install`` that fixes it."""

    def __init__(self, what: str, extra: str) -> None:
        #: The name of the missing extra, as in ``pip install "portalkit[extra]"``.
        self.extra = extra
        super().__init__(f'{what} needs an extra: pip install "portalkit[{extra}]"')


class PasswordRejected(ValidationError):
    """A password broke the password policy; :attr:`codes` lists every rule it broke, in order.

    Each rule is one :class:`Problem` on the field ``"password"`` whose message is in the language
    the check was asked for. The password itself is never part of the error, its message or its
    ``repr()``, so logging the error is safe.

    Example::

        try:
            PasswordPolicy.strict().check("secret", language="de")
        except PasswordRejected as exc:
            exc.codes  # ['too_short', 'no_upper', 'no_digit', 'no_symbol', 'common']
    """

    @property
    def codes(self) -> list[str]:
        """The rule codes broken, in the policy's fixed order (``"too_short"``, ``"common"``, …)."""
        return [problem.code for problem in self.problems]


class PasswordExpired(AuthenticationFailed):
    """The password was right, but it was set by an administrator or generated and never
    changed in time: the member must choose a new one through "forgot password". Raised
    only after the right password, so it tells an attacker nothing."""

    def __init__(self) -> None:
        PortalError.__init__(
            self, "this password has expired; choose a new one with 'forgot password'"
        )


class InvalidToken(PortalError):
    """A link (invitation, reset, confirmation) does not work: unknown, used, expired,
    replaced by a newer one, or meant for something else. One message for every reason."""

    def __init__(self) -> None:
        super().__init__("this link is invalid or has expired; ask for a new one")


class RateLimited(PortalError):
    """Too many of one kind of request (say, invitations to one login) in a short time; try
    again later. Never raised where it would tell whether an account exists."""

    def __init__(self, what: str) -> None:
        super().__init__(f"too many {what} in a short time; try again later")
