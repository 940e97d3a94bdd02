"""The log-in views (``include("portalkit_django.urls")``): log in (with the second step of a
second factor, or the enrolment the vendor requires) and out, forgot and reset password,
accept an invitation, change password, change the login e-mail (and confirm it), the
account's second factor, switch customer, the member's sessions, end a view as customer.

Each view reads the form, calls portalkit and draws ``portalkit/<page>.html``; a template of
the same name in the project's templates comes first in Django's loaders, or override only
``portalkit/layout.html``. Every POST is checked by Django's ``CsrfViewMiddleware``; none of
these views runs inside ``ATOMIC_REQUESTS``, since a failed log-in must stay counted.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from django.contrib import messages
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_POST

from portalkit import (
    AuthenticationFailed,
    Conflict,
    InvalidToken,
    NotFound,
    PasswordRejected,
    SecondFactorEnrolmentRequired,
    SecondFactorRequired,
    ValidationError,
)
from portalkit.i18n import language_of
from portalkit_django.apps import _config
from portalkit_django.decorators import portal_login_required
from portalkit_django.session import (
    client_key,
    end_view_as,
    keep_view_as,
    login_user,
    logout_user,
    refresh_session,
    safe_next,
    session_value,
    user_agent,
    viewing_as,
)

__all__ = [
    "accept_invitation",
    "change_email",
    "change_password",
    "confirm_email",
    "end_view",
    "enrol_second_factor",
    "forgot_password",
    "login",
    "login_code",
    "logout",
    "reset_password",
    "second_factor",
    "sessions",
    "switch_customer",
]


def _language() -> str:
    return language_of(translation.get_language()) or _config().portal.settings.default_language


def _page(request: Any, template: str, status: int = 200, **values: Any) -> HttpResponse:
    response = render(request, f"portalkit/{template}.html", values, status=status)
    # Pages reached by a link with a token must not hand it on to other sites. Not
    # "no-referrer": with it a browser sends `Origin: null` on the page's own form, and
    # Django's CSRF check refuses every such POST (only a real browser shows it).
    response["Referrer-Policy"] = "same-origin"
    response.setdefault("Cache-Control", "no-store")
    return response


def _field(request: Any, name: str) -> str:
    value = request.POST.get(name, "")
    return value if isinstance(value, str) else ""


def _messages(exc: ValidationError) -> list[str]:
    return [problem.text(_language()) for problem in exc.problems]


def _token(request: Any) -> str:
    token = request.POST.get("token") or request.GET.get("token", "")
    return token if isinstance(token, str) else ""


def _view(view: Any) -> Any:
    return transaction.non_atomic_requests(csrf_protect(view))


@_view
def login(request: Any) -> HttpResponse:
    """The log-in form; after it, the safe ``next`` address or ``HOME_URL``."""
    config = _config()
    target = request.POST.get("next") or request.GET.get("next", "")
    error = ""
    if request.method == "POST":
        try:
            result = config.portal.auth.authenticate(
                config.vendor_id,
                _field(request, "login"),
                _field(request, "password"),
                client_key=client_key(request),
                user_agent=user_agent(request),
            )
        except SecondFactorEnrolmentRequired as needed:
            request.session[_CHALLENGE] = {
                "kind": "enrol",
                "value": needed.challenge,
                "next": target,
            }
            return redirect("portalkit:enrol_second_factor")
        except SecondFactorRequired as needed:
            request.session[_CHALLENGE] = {
                "kind": "code",
                "value": needed.challenge,
                "next": target,
            }
            return redirect("portalkit:login_code")
        except AuthenticationFailed as exc:  # PasswordExpired too
            error = exc.text(_language())
        else:
            return _logged_in(request, result, target)
    return _page(request, "login", 401 if error else 200, next=target, error=error)


# The log-in under way between the password and its second step (or enrolment): the
# challenge in the server-side session, never in a URL, and gone once used.
_CHALLENGE = "portalkit_challenge"


def _logged_in(request: Any, result: Any, target: str) -> HttpResponse:
    request.session.pop(_CHALLENGE, None)
    login_user(request, result)
    if result.must_change_password:
        wanted = urlencode({"next": safe_next(target)}, safe="/")
        return redirect(f"{reverse('portalkit:change_password')}?{wanted}")
    return redirect(safe_next(target))


def _challenge(request: Any, kind: str) -> tuple[str, str] | None:
    held = request.session.get(_CHALLENGE)
    if not isinstance(held, dict) or held.get("kind") != kind:
        return None
    value, target = held.get("value"), held.get("next", "")
    if not isinstance(value, str) or not isinstance(target, str):
        return None
    return value, target


def _back_to_login(request: Any, message: str) -> HttpResponse:
    request.session.pop(_CHALLENGE, None)
    messages.error(request, message)
    return redirect("portalkit:login")


@_view
def login_code(request: Any) -> HttpResponse:
    """The log-in's second step: the code of the authenticator app, or a recovery code."""
    config = _config()
    held = _challenge(request, "code")
    if held is None:
        return redirect("portalkit:login")
    challenge, target = held
    if request.method == "POST":
        try:
            result = config.portal.auth.complete_login(
                config.vendor_id,
                challenge,
                _field(request, "code").strip(),
                client_key=client_key(request),
            )
        except AuthenticationFailed:
            # The challenge worked once, right or wrong: back to the password.
            return _back_to_login(request, _("That code did not work. Log in again."))
        return _logged_in(request, result, target)
    return _page(request, "login_code")


@_view
def enrol_second_factor(request: Any) -> HttpResponse:
    """The enrolment the vendor requires before this login may go on: scan the QR code,
    give the app's first code, see the recovery codes once; then logged in."""
    config = _config()
    held = _challenge(request, "enrol")
    if held is None:
        return redirect("portalkit:login")
    challenge, target = held
    error = ""
    if request.method == "POST":
        try:
            done = config.portal.auth.complete_enrolment(
                config.vendor_id,
                challenge,
                _field(request, "code").strip(),
                client_key=client_key(request),
            )
        except AuthenticationFailed:
            error = _("That code did not work. Scan the new QR code and try again.")
        else:
            _logged_in(request, done.login, target)
            return _page(
                request, "recovery_codes", codes=done.recovery_codes, next=safe_next(target)
            )
    try:
        enrolment = config.portal.second_factor.begin_enrolment(
            config.vendor_id, challenge, issuer=config.portal.settings.portal_name
        )
    except AuthenticationFailed:
        return _back_to_login(request, _("The log-in took too long. Log in again."))
    return _page(
        request, "enrol_second_factor", 400 if error else 200, enrolment=enrolment, error=error
    )


@_view
@require_POST
def logout(request: Any) -> HttpResponse:
    """Log out of this browser."""
    logout_user(request)
    return redirect("portalkit:login")


@_view
def forgot_password(request: Any) -> HttpResponse:
    """Ask for a reset link; the answer is the same whether the login exists or not."""
    config = _config()
    sent = False
    if request.method == "POST":
        config.portal.credentials.request_reset(
            config.vendor_id, _field(request, "login"), client_key=client_key(request)
        )
        sent = True
    return _page(request, "forgot_password", sent=sent)


@_view
def reset_password(request: Any) -> HttpResponse:
    """The page of a reset link: choose a new password."""
    config = _config()
    token, errors = _token(request), []
    works = config.portal.credentials.link_works(
        config.vendor_id, "reset", token, client_key=client_key(request)
    )
    if request.method == "POST" and works:
        if _field(request, "password") != _field(request, "confirm"):
            errors = [_("the two passwords are not the same")]
        else:
            try:
                config.portal.credentials.reset_password(
                    config.vendor_id,
                    token,
                    _field(request, "password"),
                    client_key=client_key(request),
                )
            except PasswordRejected as exc:
                errors = _messages(exc)
            except InvalidToken:
                works = False
            else:
                messages.success(request, _("Your password was changed. Log in with it now."))
                return redirect("portalkit:login")
    return _page(
        request, "reset_password", 200 if works else 404, token=token, works=works, errors=errors
    )


@_view
def accept_invitation(request: Any) -> HttpResponse:
    """The page of an invitation: choose a password (or, to join another customer, give the
    password the login has)."""
    config = _config()
    token, errors = _token(request), []
    works = config.portal.credentials.link_works(
        config.vendor_id, "invite", token, client_key=client_key(request)
    )
    if request.method == "POST" and works:
        if _field(request, "password") != _field(request, "confirm"):
            errors = [_("the two passwords are not the same")]
        else:
            try:
                config.portal.credentials.accept_invitation(
                    config.vendor_id,
                    token,
                    _field(request, "password"),
                    actor=request.portal_member if viewing_as(request) is None else None,
                    client_key=client_key(request),
                )
            except PasswordRejected as exc:
                errors = _messages(exc)
            except AuthenticationFailed as exc:
                errors = [exc.text(_language())]
            except InvalidToken:
                works = False
            else:
                messages.success(request, _("Your login works now. Log in with your password."))
                return redirect("portalkit:login")
    return _page(
        request,
        "accept_invitation",
        200 if works else 404,
        token=token,
        works=works,
        errors=errors,
    )


@_view
@portal_login_required
def change_password(request: Any) -> HttpResponse:
    """Change the member's own password (where a must-change password sends it first)."""
    member = request.portal_member
    if member.impersonator is not None:
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied  # staff viewing as a customer never change its password
    target = request.POST.get("next") or request.GET.get("next", "")
    errors: list[str] = []
    if request.method == "POST":
        if _field(request, "new") != _field(request, "confirm"):
            errors = [_("the two new passwords are not the same")]
        else:
            try:
                _config().portal.credentials.change_password(
                    member, current=_field(request, "current"), new=_field(request, "new")
                )
            except ValidationError as exc:  # PasswordRejected too
                errors = _messages(exc)
            else:
                refresh_session(request, member)  # the change ended every session, this one too
                messages.success(request, _("Your password was changed."))
                return redirect(safe_next(target))
    return _page(
        request,
        "change_password",
        400 if errors else 200,
        next=target,
        errors=errors,
        must_change=bool(request.session.get("portalkit_must_change")),
    )


@_view
@portal_login_required
def second_factor(request: Any) -> HttpResponse:
    """The member's own second factor: switch it on (password, QR code, first code,
    recovery codes shown once) or off (password or a recovery code)."""
    member = request.portal_member
    if member.impersonator is not None:
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied  # staff viewing as a customer never touch its credentials
    portal = _config().portal
    factors = portal.second_factor
    errors: list[str] = []
    enrolment = None
    action = _field(request, "action")
    if request.method == "POST":
        try:
            if action == "begin":
                enrolment = factors.begin(
                    member,
                    password=_field(request, "password"),
                    issuer=portal.settings.portal_name,
                )
            elif action == "confirm":
                codes = factors.confirm(member, _field(request, "code").strip())
                refresh_session(request, member)  # it ended every session, this one too
                return _page(
                    request,
                    "recovery_codes",
                    codes=codes,
                    next=reverse("portalkit:second_factor"),
                )
            elif action == "disable":
                factors.disable(member, _field(request, "proof").strip())
                refresh_session(request, member)
                messages.success(request, _("Your second factor is off."))
                return redirect("portalkit:second_factor")
            else:
                return HttpResponse(status=400)
        except ValidationError as exc:
            errors = _messages(exc)
        except Conflict as exc:
            errors = [exc.text(_language())]
    return _page(
        request,
        "second_factor",
        400 if errors else 200,
        enabled=factors.enabled(member, member.account_id),
        enrolment=enrolment,
        errors=errors,
    )


@_view
@portal_login_required
def change_email(request: Any) -> HttpResponse:
    """Ask to move the member's own login e-mail: a link goes to the new address, and the
    page says the same whether or not that address has a login already."""
    member = request.portal_member
    if member.impersonator is not None:
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied  # staff viewing as a customer never move its login
    sent, errors = False, []
    if request.method == "POST":
        try:
            _config().portal.accounts.request_email_change(
                member, _field(request, "new_email"), password=_field(request, "password")
            )
        except ValidationError as exc:
            errors = _messages(exc)
        else:
            sent = True
    return _page(request, "change_email", 400 if errors else 200, sent=sent, errors=errors)


@_view
def confirm_email(request: Any) -> HttpResponse:
    """The page of an e-mail change link: a button confirms it (a GET changes nothing, so a
    mail scanner that opens the link does not use it)."""
    config = _config()
    token = _token(request)
    works = config.portal.credentials.link_works(
        config.vendor_id, "email_change", token, client_key=client_key(request)
    )
    if request.method == "POST" and works:
        try:
            config.portal.accounts.confirm_email_change(
                config.vendor_id, token, client_key=client_key(request)
            )
        except InvalidToken:
            works = False
        else:
            logout_user(request)  # the change ended every session of the login
            messages.success(request, _("Your e-mail address was changed. Log in again."))
            return redirect("portalkit:login")
    return _page(request, "confirm_email", 200 if works else 404, token=token, works=works)


@_view
@portal_login_required
def switch_customer(request: Any) -> HttpResponse:
    """The customers this login works in, and the switch to another."""
    portal = _config().portal
    member = request.portal_member
    if request.method == "POST":
        try:
            wanted = UUID(_field(request, "customer"))
        except ValueError:
            raise NotFound("customer", _field(request, "customer")[:50]) from None
        switched = portal.access.switch(member, wanted)  # NotFound: 404
        if member.impersonator is not None:
            keep_view_as(request, switched)
        else:
            refresh_session(request, switched)
        return redirect(safe_next(request.POST.get("next", "")))
    choices = []
    for membership in portal.access.memberships(member):
        if member.impersonator is not None and membership.customer_id != member.customer_id:
            continue  # a view as customer stays with its customer (the core refuses a switch)
        there = portal.access.switch(member, membership.customer_id)
        customer = portal.customers.get(there, membership.customer_id)
        choices.append((customer, membership.customer_id == member.customer_id))
    return _page(request, "switch_customer", choices=choices)


@_view
@portal_login_required
def sessions(request: Any) -> HttpResponse:
    """The member's sessions (browsers logged in), and ending one or all others."""
    portal = _config().portal
    member = request.portal_member
    if member.impersonator is not None:
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied  # staff viewing as a customer see no member's sessions
    current = session_value(request)
    if request.method == "POST":
        if _field(request, "end") == "others":
            portal.sessions.end_others(member, current or "")  # NotFound: 404
            messages.success(request, _("Every other browser was logged out."))
        else:
            try:
                wanted = UUID(_field(request, "end"))
            except ValueError:
                raise NotFound("session", _field(request, "end")[:50]) from None
            portal.sessions.end(member, wanted)  # NotFound: 404
            messages.success(request, _("That browser was logged out."))
        return redirect(reverse("portalkit:sessions"))
    listed = portal.sessions.list(member, current=current)
    return _page(request, "sessions", listed=listed)


@_view
@require_POST
def end_view(request: Any) -> HttpResponse:
    """End this browser's view as customer."""
    end_view_as(request)
    return redirect(safe_next(request.POST.get("next", "")))
