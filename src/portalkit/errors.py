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
            print(problem.text("nl"))  # the same sentence in Dutch (or "de", "de-DE", ...)
"""

from __future__ import annotations

import string
import types
from collections.abc import Callable, Iterable, Mapping
from typing import TypeAlias

import attrs

from portalkit._catalogs import SUPPORTED_LANGUAGES, catalog, language_of

__all__ = [
    "MESSAGE_MAX",
    "PARAMS_MAX",
    "RECORD_KINDS",
    "AuthenticationFailed",
    "ConcurrentModification",
    "ConfigurationError",
    "Conflict",
    "ImproperlyInstalled",
    "InvalidToken",
    "Message",
    "NotFound",
    "Params",
    "PasswordExpired",
    "PasswordRejected",
    "PermissionDenied",
    "PortalError",
    "Problem",
    "RateLimited",
    "SecondFactorEnrolmentRequired",
    "SecondFactorRequired",
    "StorageError",
    "ValidationError",
]


MESSAGE_MAX = 2000
"""The longest message an error holds; longer ones are cut (see :class:`PortalError`)."""

PARAMS_MAX = 10
"""The most parameters one message has (see :class:`Problem`)."""

Params: TypeAlias = Mapping[str, "str | int"]
"""A message's values by placeholder name: text (at most 200 characters; a :class:`Message`
is translated when shown) or a whole number."""


def _(message: str) -> str:
    # Marks a text for extraction into the catalogs (babel's default keyword); it is
    # translated only when shown, in the language the host asks for.
    return message


RECORD_KINDS: tuple[str, ...] = (
    _("account"),
    _("asset"),
    _("assortment"),
    _("audit_event"),
    _("catalogue item"),
    _("catalogue_item"),
    _("category"),
    _("category_tree"),
    _("contact"),
    _("customer"),
    _("document"),
    _("customer group"),
    _("customer_group"),
    _("device"),
    _("device model"),
    _("device_model"),
    _("job"),
    _("location"),
    _("membership"),
    _("message"),
    _("cart"),
    _("order"),
    _("quote"),
    _("quote_message"),
    _("outbox_message"),
    _("parent customer"),
    _("permission profile"),
    _("price list"),
    _("price rule"),
    _("price_list"),
    _("price_rule"),
    _("profile"),
    _("registration"),
    _("token"),
    _("vendor"),
    _("staff_member"),
    _("inbox_setting"),
    _("inbox_item"),
    _("inbox_comment"),
    _("inbox_event"),
    _("work_request"),
    _("ticket"),
    _("ticket_attachment"),
    _("second_factor"),
    _("second_factor_rule"),
    _("access_token"),
    _("sso_config"),
    _("sso_domain"),
    _("sso_attempt"),
    _("passkey"),
    _("session"),
)
"""The kinds of record a :class:`NotFound` or :class:`ConcurrentModification` names; each is
translated along with the sentence. A kind not listed is shown in English."""

# The values of the enums a message names (a membership's or registration's status, a scope):
# msgids, so that Message(status.value) is translated like its sentence.
_WORDS = (
    _("unconfirmed"),
    _("pending"),
    _("approved"),
    _("rejected"),
    _("invited"),
    _("active"),
    _("disabled"),
    _("own"),
    _("location"),
    _("customer"),
    _("tree"),
    _("new"),
    _("in_progress"),
    _("done"),
)

_FORMATTER = string.Formatter()

# Params that hold a msgid rather than a value: shown translated with the sentence.
_TRANSLATED_PARAMS = ("kind", "what", "reason")


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


def _placeholders(template: str) -> set[str]:
    """The names a ``str.format`` template fills in (``"{kind} {ident!r}"`` → kind, ident)."""
    names = set()
    for _literal, name, _spec, _conversion in _FORMATTER.parse(template):
        if name is not None:
            names.add(name.partition(".")[0].partition("[")[0])
    return names


def _params(value: Mapping[str, object] | None) -> Params:
    """``value`` checked and bounded: short identifier names, text or whole-number values.

    Any other value is shown as text, cut to 200 characters, so that no input can make a
    parameter that floods a log; a UUID or a date becomes its usual text.
    """
    if not value:
        return types.MappingProxyType({})
    if len(value) > PARAMS_MAX:
        raise ValueError(f"a message has at most {PARAMS_MAX} parameters")
    checked: dict[str, str | int] = {}
    for name, item in value.items():
        if not (isinstance(name, str) and name.isidentifier() and len(name) <= 40):
            raise ValueError(f"parameter names must be short identifiers, not {name!r:.60}")
        if isinstance(item, Message):
            checked[name] = item  # bounded when it was made; translated when shown
        elif isinstance(item, int) and not isinstance(item, bool) and abs(item) < 10**15:
            checked[name] = item
        else:
            checked[name] = _bounded(item, 200)
    return types.MappingProxyType(checked)


def _gettext(language: str | None) -> Callable[[str], str]:
    """The translating function of ``language`` (None or ``"en"``: the English source text)."""
    if language is None or language == "en":
        return str
    return catalog(language).gettext


def _render(
    template: str,
    params: Params,
    language: str | None,
    *,
    limit: int,
) -> str:
    """``template`` in ``language`` (None: English) with ``params`` filled in.

    Without params the template is the sentence as it is (no ``{}`` handling), so a host's own
    message with a brace in it stays intact. A param named ``kind``, ``what`` or ``reason`` is
    a msgid itself (a record's kind, see :data:`RECORD_KINDS`) and is translated too, as is a
    :class:`Message`.
    """
    gettext = _gettext(language)
    text = gettext(template)
    if params:
        values = {name: _shown(name, value, gettext, language) for name, value in params.items()}
        text = text.format_map(values)
    return _bounded(text, limit)


def _shown(
    name: str, value: str | int, gettext: Callable[[str], str], language: str | None
) -> str | int:
    if isinstance(value, Message):
        return _render(value.template, value.params, language, limit=MESSAGE_MAX)
    if name in _TRANSLATED_PARAMS and isinstance(value, str):
        return gettext(value)
    return value


def _language(language: object) -> str:
    """The language a host asked for, normalised (``"de-DE"`` → ``"de"``); else an error."""
    found = language_of(language)
    if found is None:
        raise ValidationError.single(
            "language",
            "unsupported",
            "must be one of {choices}",
            choices=", ".join(SUPPORTED_LANGUAGES),
        )
    return found


def _checked_template(template: str, params: Params) -> None:
    if params:
        # A placeholder without its value would fail only when shown (a KeyError while
        # raising another error); fail at the raise site instead, where tests see it.
        missing = _placeholders(template) - set(params)
        if missing:
            raise ValueError(f"the message names {sorted(missing)} but has no such parameter")


class Message(str):
    """An English sentence that can also be said in another language: a ``str`` that keeps its
    :attr:`template` and :attr:`params`.

    It is what an explanation returns (:meth:`AccessContext.explain
    <portalkit.access.AccessContext.explain>`, the reason a context is denied), so that the
    :class:`PermissionDenied` made from it translates like any other error. A param may be a
    Message itself; it is translated along with the sentence.

    Example::

        reason = Message("customer {code} is inactive", code="ACME")
        str(reason)        # 'customer ACME is inactive'
        reason.text("de")  # 'Kunde ACME ist inaktiv'
    """

    template: str
    params: Params

    def __new__(cls, template: str, /, **params: object) -> Message:
        checked = _params(params)
        _checked_template(template, checked)
        english = _render(template, checked, None, limit=MESSAGE_MAX)
        made = super().__new__(cls, english)
        #: The English sentence with ``{name}`` placeholders; the msgid of its translations.
        made.template = _bounded(template, MESSAGE_MAX)
        #: The values the template's placeholders show, by name.
        made.params = checked
        return made

    @classmethod
    def joined(cls, parts: Iterable[str], separator: str = "; ") -> Message:
        """The parts in one sentence, each translated on its own (a :class:`Message` part in
        the language asked for, any other as it is)."""
        items: list[str] = list(parts)
        if len(items) > PARAMS_MAX:
            # One param holds the rest, joined the same way: any number of parts.
            items = [*items[: PARAMS_MAX - 1], cls.joined(items[PARAMS_MAX - 1 :], separator)]
        # Not a msgid: the catalogs have no "{p0}; {p1}", so only the parts are translated.
        template = (
            separator.replace("{", "{{")
            .replace("}", "}}")
            .join(f"{{p{i}}}" for i in range(len(items)))
        )
        return cls(template, **{f"p{i}": item for i, item in enumerate(items)})

    def text(self, language: str) -> str:
        """The sentence in ``language``, as :meth:`Problem.text` renders one."""
        return _render(self.template, self.params, _language(language), limit=MESSAGE_MAX)


@attrs.frozen
class Problem:
    """One thing wrong with an input: which field, which rule, and a sentence for a person.

    ``code`` is a stable machine-readable rule name (``"required"``, ``"too_long"``,
    ``"invalid_characters"``, …) that host apps may branch on or render their own way;
    ``template`` is the English sentence with ``{name}`` placeholders for :attr:`params`, and
    the msgid of its translations. :attr:`message` is the sentence in :attr:`language`
    (English unless the problem was made for a language, as a password check can be);
    :meth:`text` gives it in any language portalkit has texts in.

    Each text is cut to a sane length (field 100, code 50, template and message 500
    characters, a parameter 200) and made valid Unicode, so no input can make a problem that
    floods a log or cannot be written to one.

    Example::

        problem = Problem("code", "too_long", "must be at most {limit} characters long",
                          {"limit": 50})
        problem.message     # 'must be at most 50 characters long'
        problem.text("nl")  # 'mag hoogstens 50 tekens lang zijn'
    """

    field: str = attrs.field(converter=_field_text)
    code: str = attrs.field(converter=_code_text)
    template: str = attrs.field(converter=_message_text)
    params: Params = attrs.field(default=None, converter=_params, hash=False)
    """The values the template's placeholders show, by name (empty when it has none)."""
    language: str = attrs.field(default="en", kw_only=True)
    """The language of :attr:`message`: ``"en"`` unless made for another one."""
    message: str = attrs.field(init=False)
    """The sentence, in :attr:`language`."""

    @language.validator
    def _check_language(self, _attribute: object, value: str) -> None:
        if value != "en":
            _language(value)

    @message.default
    def _english(self) -> str:
        _checked_template(self.template, self.params)
        return _render(self.template, self.params, _language(self.language), limit=500)

    def text(self, language: str) -> str:
        """The sentence in ``language``: ``"nl"``, ``"de-DE"``, ``"en_GB"`` (only the language
        part counts).

        The language is the one the host passes for the request, never one read from an
        account: an answer to an anonymous caller must not depend on whose address it named.
        Raises :class:`ValidationError` (field ``language``) for a language portalkit has no
        texts in. A template that is not in the catalogs (a host's own) stays English.
        """
        return _render(self.template, self.params, _language(language), limit=500)


def _joined(problems: tuple[Problem, ...], shown: Callable[[Problem], str], more: str) -> str:
    # Hundreds of problems (a long list of bad names) would make a huge message.
    parts: list[str] = []
    size = 0
    for p in problems:
        part = f"{p.field}: {shown(p)}"
        size += len(part) + 2
        if size > MESSAGE_MAX:
            parts.append(more.format(count=len(problems)))
            break
        parts.append(part)
    return "; ".join(parts)


_MORE = _("… ({count} problems in all)")


class PortalError(Exception):
    """Base class of every error portalkit raises on purpose.

    The message is an English :attr:`template` with ``{name}`` placeholders for
    :attr:`params`; ``str(error)`` is the English sentence and :meth:`text` gives it in
    another language. A text message is cut to :data:`MESSAGE_MAX` characters and made valid
    Unicode.
    """

    def __init__(self, *args: object, **params: object) -> None:
        first = args[0] if args else ""
        if isinstance(first, Message) and not params:
            params = dict(first.params)
        #: The English sentence with ``{name}`` placeholders; the msgid of its translations.
        self.template = (
            first.template
            if isinstance(first, Message)
            else _bounded(first, MESSAGE_MAX)
            if isinstance(first, str)
            else ""
        )
        #: The values the template's placeholders show, by name.
        self.params = _params(params)
        if self.params:
            _checked_template(self.template, self.params)
            args = (self._text(None), *args[1:])
        super().__init__(*(_bounded(a, MESSAGE_MAX) if isinstance(a, str) else a for a in args))

    def _text(self, language: str | None) -> str:
        return _render(
            self.template,
            self.params,
            language,
            limit=MESSAGE_MAX,
        )

    def text(self, language: str) -> str:
        """The message in ``language`` (``"nl"``, ``"de-DE"``, …; only the language part
        counts), as :meth:`Problem.text` renders it.

        Pass the language of the request, never one read from an account. Raises
        :class:`ValidationError` for a language portalkit has no texts in; a message that is
        not in the catalogs (an operator's, such as a :class:`StorageError`) stays English.
        """
        return self._text(_language(language))


class ValidationError(PortalError, ValueError):
    """Input broke one or more rules; :attr:`problems` lists all of them at once.

    Nothing was written. ``field`` and ``code`` are those of the first problem, for the common
    case of a single problem; :meth:`text` joins every problem's sentence in a language.
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
        super().__init__(_joined(self.problems, lambda p: p.message, _MORE))
        # The joined sentence is no template: each problem has its own.
        self.template = first.template
        self.params = first.params

    def text(self, language: str) -> str:
        """Every problem as ``field: sentence`` in ``language``, joined as ``str()`` joins
        them in English (see :meth:`Problem.text`)."""
        wanted = _language(language)
        return _joined(self.problems, lambda p: p.text(wanted), _gettext(wanted)(_MORE))

    @classmethod
    def single(cls, field: str, code: str, message: str, **params: object) -> ValidationError:
        """Build the error for one problem; ``message`` is a template for ``params``."""
        return cls([Problem(field, code, message, params)])


class NotFound(PortalError, LookupError):
    """The record does not exist, or the actor may not know that it exists.

    Another vendor's or another customer's record gives this error too, never
    :class:`PermissionDenied`: an error must not tell an outsider that a record exists.
    """

    def __init__(self, kind: str, ident: object) -> None:
        #: What was looked for: ``"customer"``, ``"account"``, … (see :data:`RECORD_KINDS`).
        self.kind = kind
        #: The id or key that was looked for (shortened in the message).
        self.ident = ident
        shown = str(ident)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        super().__init__(_("{kind} {ident} not found"), kind=kind, ident=shown)


class Conflict(PortalError):
    """The change clashes with stored data, such as a customer code or username already taken.

    ``field`` names the input that clashes.
    """

    def __init__(self, field: str, message: str, **params: object) -> None:
        #: The input that clashes (``"code"``, ``"username"``, …).
        self.field = field
        super().__init__(message, **params)


class ConcurrentModification(Conflict):
    """Someone else changed the record since it was read; read it again and retry."""

    def __init__(self, kind: str, ident: object) -> None:
        self.kind = kind
        self.ident = ident
        super().__init__(
            "version",
            _(
                "{kind} {ident} was changed by someone else since it was read; "
                "load it again and repeat the change"
            ),
            kind=kind,
            ident=ident,
        )


class PermissionDenied(PortalError, PermissionError):
    """The actor is known but may not do this; the message says why.

    Raised as ``PermissionDenied(template, **params)``: see :class:`PortalError`.
    """


class AuthenticationFailed(PortalError):
    """Log-in failed. The message is the same whatever the reason, so it reveals nothing."""

    def __init__(self) -> None:
        super().__init__(_("the username or password is not correct"))


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
    the check was asked for (:meth:`Problem.text` gives it in any other). The password itself is never part of the error, its message or its
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
            self, _("this password has expired; choose a new one with 'forgot password'")
        )


class SecondFactorRequired(AuthenticationFailed):
    """The password was right and the account has a second factor: log-in goes on with
    ``portal.auth.complete_login(vendor, error.challenge, code)``. Raised only after the
    right password; as an AuthenticationFailed, a host written before second factors
    refuses the log-in (it fails closed)."""

    def __init__(self, challenge: str) -> None:
        #: The short-lived, single-use value that carries the log-in to its second step.
        self.challenge = challenge
        PortalError.__init__(self, _("enter the code from your authenticator app"))


class SecondFactorEnrolmentRequired(AuthenticationFailed):
    """The password was right, and the vendor requires a second factor of this login
    (``portal.second_factor.require_for``), which it does not have yet: before anything
    else the login enrols one, with ``portal.second_factor.begin_enrolment(vendor,
    error.challenge)`` (the QR code) and ``portal.auth.complete_enrolment(vendor,
    error.challenge, code)`` (the first code; logs in). The challenge does nothing else and
    gives no session; as an AuthenticationFailed, a host that does not know it refuses the
    log-in (it fails closed)."""

    def __init__(self, challenge: str) -> None:
        #: The short-lived value that carries the log-in to its enrolment (once).
        self.challenge = challenge
        PortalError.__init__(self, _("set up a second factor to log in"))


class InvalidToken(PortalError):
    """A link (invitation, reset, confirmation) does not work: unknown, used, expired,
    replaced by a newer one, or meant for something else. One message for every reason."""

    def __init__(self) -> None:
        super().__init__(_("this link is invalid or has expired; ask for a new one"))


class RateLimited(PortalError):
    """Too many of one kind of request (say, invitations to one login) in a short time; try
    again later. Never raised where it would tell whether an account exists."""

    def __init__(self, what: str) -> None:
        #: What there were too many of (``"invitations to this login"``); a msgid itself.
        self.what = what
        super().__init__(_("too many {what} in a short time; try again later"), what=what)
