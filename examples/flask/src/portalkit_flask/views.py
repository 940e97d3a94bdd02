"""The optional log-in blueprint: log in (with the second step of a second factor, or the
enrolment the vendor requires) and out, forgot and reset password, accept an invitation,
change password, change the login e-mail (and confirm it), the account's second factor,
switch customer, end a view as customer, switch language; and
the public route of the vendor's branding assets (``portalkit.branding_asset``).

Each view reads the form, calls portalkit and draws ``portalkit/<page>.html``; put a template
of the same name in your application's ``templates/portalkit/`` to draw it your way (the
application's templates come first in Flask's loader), or override only
``portalkit/layout.html`` to give every page your layout. Every POST carries Flask-WTF's CSRF
token.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue

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
from portalkit_flask.extension import (
    _state,
    client_key,
    end_view_as,
    get_member,
    login_required,
    login_user,
    logout_user,
    refresh_session,
    safe_next,
    session_value,
    user_agent,
    viewing_as,
)
from portalkit_flask.files import branding_response
from portalkit_flask.i18n import choose_language, request_language
from portalkit_flask.i18n import gettext as _

__all__ = ["blueprint"]

blueprint = Blueprint("portalkit", __name__, template_folder="templates")


@blueprint.context_processor
def _own_texts() -> dict[str, Any]:
    # The blueprint's pages use the adapter's catalogs even where a host's Flask-Babel owns the
    # global _() (texts the adapter lacks still go to the host's; see i18n.gettext).
    return {"_": _}


def _page(template: str, status: int = 200, **values: Any) -> ResponseReturnValue:
    response = make_response(render_template(f"portalkit/{template}.html", **values), status)
    # Pages reached by a link with a token must not hand it on to other sites.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _field(name: str) -> str:
    value = request.form.get(name, "")
    return value if isinstance(value, str) else ""


def _messages(exc: ValidationError) -> list[str]:
    language = request_language()
    return [problem.text(language) for problem in exc.problems]


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """The log-in form; after it, the safe ``next`` address or ``PORTALKIT_HOME_URL``."""
    state = _state()
    target = request.values.get("next", "")
    error = ""
    if request.method == "POST":
        try:
            result = state.portal.auth.authenticate(
                state.vendor_id,
                _field("login"),
                _field("password"),
                client_key=client_key(),
                user_agent=user_agent(),
            )
        except SecondFactorEnrolmentRequired as needed:
            session[_CHALLENGE] = {"kind": "enrol", "value": needed.challenge, "next": target}
            return redirect(url_for(".enrol_second_factor"))
        except SecondFactorRequired as needed:
            session[_CHALLENGE] = {"kind": "code", "value": needed.challenge, "next": target}
            return redirect(url_for(".login_code"))
        except AuthenticationFailed as exc:  # PasswordExpired too
            error = exc.text(request_language())
        else:
            return _logged_in(result, target)
    return _page("login", 401 if error else 200, next=target, error=error)


# The log-in under way between the password and its second step (or enrolment): the
# challenge in the signed session, never in a URL, and gone once used.
_CHALLENGE = "portalkit_challenge"


def _logged_in(result: Any, target: str) -> ResponseReturnValue:
    session.pop(_CHALLENGE, None)
    login_user(result)
    if result.must_change_password:
        return redirect(url_for(".change_password", next=safe_next(target)))
    return redirect(safe_next(target))


def _challenge(kind: str) -> tuple[str, str] | None:
    held = session.get(_CHALLENGE)
    if not isinstance(held, dict) or held.get("kind") != kind:
        return None
    value, target = held.get("value"), held.get("next", "")
    if not isinstance(value, str) or not isinstance(target, str):
        return None
    return value, target


def _back_to_login(message: str) -> ResponseReturnValue:
    session.pop(_CHALLENGE, None)
    flash(message)
    return redirect(url_for(".login"))


@blueprint.route("/login/code", methods=["GET", "POST"])
def login_code() -> ResponseReturnValue:
    """The log-in's second step: the code of the authenticator app, or a recovery code."""
    state = _state()
    held = _challenge("code")
    if held is None:
        return redirect(url_for(".login"))
    challenge, target = held
    if request.method == "POST":
        try:
            result = state.portal.auth.complete_login(
                state.vendor_id, challenge, _field("code").strip(), client_key=client_key()
            )
        except AuthenticationFailed:
            # The challenge worked once, right or wrong: back to the password.
            return _back_to_login(_("That code did not work. Log in again."))
        return _logged_in(result, target)
    return _page("login_code")


@blueprint.route("/login/second-factor", methods=["GET", "POST"])
def enrol_second_factor() -> ResponseReturnValue:
    """The enrolment the vendor requires before this login may go on: scan the QR code,
    give the app's first code, see the recovery codes once; then logged in."""
    state = _state()
    held = _challenge("enrol")
    if held is None:
        return redirect(url_for(".login"))
    challenge, target = held
    error = ""
    if request.method == "POST":
        try:
            done = state.portal.auth.complete_enrolment(
                state.vendor_id, challenge, _field("code").strip(), client_key=client_key()
            )
        except AuthenticationFailed:
            error = _("That code did not work. Scan the new QR code and try again.")
        else:
            _logged_in(done.login, target)
            return _page("recovery_codes", codes=done.recovery_codes, next=safe_next(target))
    try:
        enrolment = state.portal.second_factor.begin_enrolment(
            state.vendor_id, challenge, issuer=state.portal.settings.portal_name
        )
    except AuthenticationFailed:
        return _back_to_login(_("The log-in took too long. Log in again."))
    return _page("enrol_second_factor", 400 if error else 200, enrolment=enrolment, error=error)


@blueprint.post("/logout")
def logout() -> ResponseReturnValue:
    """Log out of this browser."""
    logout_user()
    return redirect(url_for(".login"))


@blueprint.route("/forgot-password", methods=["GET", "POST"])
def forgot_password() -> ResponseReturnValue:
    """Ask for a reset link; the answer is the same whether the login exists or not."""
    state = _state()
    sent = False
    if request.method == "POST":
        state.portal.credentials.request_reset(
            state.vendor_id, _field("login"), client_key=client_key()
        )
        sent = True
    return _page("forgot_password", sent=sent)


def _token() -> str:
    token = request.values.get("token", "")
    return token if isinstance(token, str) else ""


@blueprint.route("/reset-password", methods=["GET", "POST"])
def reset_password() -> ResponseReturnValue:
    """The page of a reset link: choose a new password."""
    state = _state()
    token, errors = _token(), []
    works = state.portal.credentials.link_works(
        state.vendor_id, "reset", token, client_key=client_key()
    )
    if request.method == "POST" and works:
        if _field("password") != _field("confirm"):
            errors = [_("the two passwords are not the same")]
        else:
            try:
                state.portal.credentials.reset_password(
                    state.vendor_id, token, _field("password"), client_key=client_key()
                )
            except PasswordRejected as exc:
                errors = _messages(exc)
            except InvalidToken:
                works = False
            else:
                flash(_("Your password was changed. Log in with it now."))
                return redirect(url_for(".login"))
    return _page("reset_password", 200 if works else 404, token=token, works=works, errors=errors)


@blueprint.route("/accept-invitation", methods=["GET", "POST"])
def accept_invitation() -> ResponseReturnValue:
    """The page of an invitation: choose a password (or, to join another customer, give the
    password the login has)."""
    state = _state()
    token, errors = _token(), []
    works = state.portal.credentials.link_works(
        state.vendor_id, "invite", token, client_key=client_key()
    )
    if request.method == "POST" and works:
        if _field("password") != _field("confirm"):
            errors = [_("the two passwords are not the same")]
        else:
            try:
                state.portal.credentials.accept_invitation(
                    state.vendor_id,
                    token,
                    _field("password"),
                    actor=get_member() if viewing_as() is None else None,
                    client_key=client_key(),
                )
            except PasswordRejected as exc:
                errors = _messages(exc)
            except AuthenticationFailed as exc:
                errors = [exc.text(request_language())]
            except InvalidToken:
                works = False
            else:
                flash(_("Your login works now. Log in with your password."))
                return redirect(url_for(".login"))
    return _page(
        "accept_invitation", 200 if works else 404, token=token, works=works, errors=errors
    )


@blueprint.route("/change-password", methods=["GET", "POST"])
@login_required
def change_password() -> ResponseReturnValue:
    """Change the member's own password (where a must-change password sends it first)."""
    state = _state()
    member = get_member()
    assert member is not None
    if member.impersonator is not None:
        abort(403)  # staff viewing as a customer never change its password
    target = request.values.get("next", "")
    errors: list[str] = []
    if request.method == "POST":
        if _field("new") != _field("confirm"):
            errors = [_("the two new passwords are not the same")]
        else:
            try:
                state.portal.credentials.change_password(
                    member, current=_field("current"), new=_field("new")
                )
            except ValidationError as exc:  # PasswordRejected too
                errors = _messages(exc)
            else:
                refresh_session(member)  # the change ended every session, this one too
                flash(_("Your password was changed."))
                return redirect(safe_next(target))
    return _page("change_password", 400 if errors else 200, next=target, errors=errors)


@blueprint.route("/second-factor", methods=["GET", "POST"])
@login_required
def second_factor() -> ResponseReturnValue:
    """The member's own second factor: switch it on (password, QR code, first code,
    recovery codes shown once) or off (password or a recovery code)."""
    state = _state()
    member = get_member()
    assert member is not None
    if member.impersonator is not None:
        abort(403)  # staff viewing as a customer never touch its credentials
    factors = state.portal.second_factor
    errors: list[str] = []
    enrolment = None
    action = _field("action")
    if request.method == "POST":
        try:
            if action == "begin":
                enrolment = factors.begin(
                    member, password=_field("password"), issuer=state.portal.settings.portal_name
                )
            elif action == "confirm":
                codes = factors.confirm(member, _field("code").strip())
                refresh_session(member)  # switching it on ended every session, this one too
                return _page("recovery_codes", codes=codes, next=url_for(".second_factor"))
            elif action == "disable":
                factors.disable(member, _field("proof").strip())
                refresh_session(member)
                flash(_("Your second factor is off."))
                return redirect(url_for(".second_factor"))
            else:
                abort(400)
        except ValidationError as exc:
            errors = _messages(exc)
        except Conflict as exc:
            errors = [exc.text(request_language())]
    enabled = factors.enabled(member, member.account_id)
    return _page(
        "second_factor", 400 if errors else 200, enabled=enabled, enrolment=enrolment, errors=errors
    )


@blueprint.route("/change-email", methods=["GET", "POST"])
@login_required
def change_email() -> ResponseReturnValue:
    """Ask to move the member's own login e-mail: a link goes to the new address, and the
    page says the same whether or not that address has a login already."""
    state = _state()
    member = get_member()
    assert member is not None
    if member.impersonator is not None:
        abort(403)  # staff viewing as a customer never move its login
    sent, errors = False, []
    if request.method == "POST":
        try:
            state.portal.accounts.request_email_change(
                member, _field("new_email"), password=_field("password")
            )
        except ValidationError as exc:
            errors = _messages(exc)
        else:
            sent = True
    return _page("change_email", 400 if errors else 200, sent=sent, errors=errors)


@blueprint.route("/confirm-email", methods=["GET", "POST"])
def confirm_email() -> ResponseReturnValue:
    """The page of an e-mail change link: a button confirms it (a GET changes nothing, so a
    mail scanner that opens the link does not use it)."""
    state = _state()
    token = _token()
    works = state.portal.credentials.link_works(
        state.vendor_id, "email_change", token, client_key=client_key()
    )
    if request.method == "POST" and works:
        try:
            state.portal.accounts.confirm_email_change(
                state.vendor_id, token, client_key=client_key()
            )
        except InvalidToken:
            works = False
        else:
            logout_user()  # the change ended every session of the login
            flash(_("Your e-mail address was changed. Log in again."))
            return redirect(url_for(".login"))
    return _page("confirm_email", 200 if works else 404, token=token, works=works)


@blueprint.route("/switch-customer", methods=["GET", "POST"])
@login_required
def switch_customer() -> ResponseReturnValue:
    """The customers this login works in, and the switch to another."""
    state = _state()
    member = get_member()
    assert member is not None
    if request.method == "POST":
        try:
            wanted = UUID(_field("customer"))
        except ValueError:
            raise NotFound("customer", _field("customer")[:50]) from None
        switched = state.portal.access.switch(member, wanted)  # NotFound: 404
        if member.impersonator is not None:
            from portalkit_flask.extension import _keep_view_as

            _keep_view_as(switched)
        else:
            refresh_session(switched)
        return redirect(safe_next(request.values.get("next", "")))
    choices = []
    for membership in state.portal.access.memberships(member):
        if member.impersonator is not None and membership.customer_id != member.customer_id:
            continue  # a view as customer stays with its customer (the core refuses a switch)
        # A member reads only the customer it works in, so each name is read as that
        # customer's member.
        there = state.portal.access.switch(member, membership.customer_id)
        customer = state.portal.customers.get(there, membership.customer_id)
        choices.append((customer, membership.customer_id == member.customer_id))
    return _page("switch_customer", choices=choices)


@blueprint.route("/sessions", methods=["GET", "POST"])
@login_required
def sessions() -> ResponseReturnValue:
    """The member's sessions (browsers logged in), and ending one or all others."""
    state = _state()
    member = get_member()
    assert member is not None
    if member.impersonator is not None:
        abort(403)  # staff viewing as a customer see no member's sessions
    current = session_value()
    if request.method == "POST":
        if _field("end") == "others":
            state.portal.sessions.end_others(member, current or "")  # NotFound: 404
            flash(_("Every other browser was logged out."))
        else:
            try:
                wanted = UUID(_field("end"))
            except ValueError:
                raise NotFound("session", _field("end")[:50]) from None
            state.portal.sessions.end(member, wanted)  # NotFound: 404
            flash(_("That browser was logged out."))
        return redirect(url_for(".sessions"))
    listed = state.portal.sessions.list(member, current=current)
    return _page("sessions", listed=listed)


@blueprint.post("/view-as/end")
def end_view() -> ResponseReturnValue:
    """End this browser's view as customer."""
    end_view_as()
    return redirect(safe_next(request.values.get("next", "")))


@blueprint.post("/language")
def language() -> ResponseReturnValue:
    """The language switch: keep the visitor's choice (``en``, ``nl`` or ``de``, nothing else)
    in the session and go back to the safe ``next`` address."""
    if choose_language(request.form.get("language")) is None:
        abort(400)
    return redirect(safe_next(request.form.get("next", "")))


@blueprint.get("/branding/<path:asset_id>")
def branding_asset(asset_id: str) -> ResponseReturnValue:
    """A logo or size-instruction file of this application's vendor, to anyone (a login
    page shows the logo before anyone logs in); 404 for every key that is not one of its
    branding assets. ``url_for("portalkit.branding_asset", asset_id=customer.branding.
    logo_asset_id)`` makes the address."""
    try:
        content, content_type = _state().portal.branding.public_asset(_state().vendor_id, asset_id)
    except NotFound:
        abort(404)
    response = branding_response(asset_id, content, content_type)
    return response.make_conditional(request)


# The integration pages (access tokens, single sign-on) live in a module of their own and join
# this blueprint whenever it is imported, however a host registers it.
from portalkit_flask import integration_views as _integration_views  # noqa: E402, F401
