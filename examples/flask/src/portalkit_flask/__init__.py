"""portalkit in a Flask application.

Example::

    from flask import Flask
    from portalkit_flask import Portalkit, current_access, requires

    app = Flask(__name__)
    app.config.update(SECRET_KEY="...", PORTALKIT_DATABASE_URL="sqlite:///portal.db")
    Portalkit(app)

    @app.get("/orders")
    @requires("orders.view")
    def orders():
        query = current_access.filter(select(orders_table), "orders")
        ...
"""

from portalkit_flask.extension import (
    ADAPTER_KEYS,
    Portalkit,
    client_key,
    current_access,
    current_member,
    current_portal,
    current_staff,
    end_view_as,
    get_access,
    get_member,
    get_staff,
    load_session,
    login_required,
    login_user,
    logout_user,
    refresh_session,
    requires,
    safe_next,
    session_value,
    settings_from_config,
    start_view_as,
    user_agent,
    viewing_as,
    visible_fields,
    visible_or_404,
)
from portalkit_flask.files import branding_response, document_response
from portalkit_flask.i18n import choose_language, gettext, request_language

__all__ = [
    "ADAPTER_KEYS",
    "Portalkit",
    "branding_response",
    "choose_language",
    "client_key",
    "current_access",
    "current_member",
    "current_portal",
    "current_staff",
    "document_response",
    "end_view_as",
    "get_access",
    "get_member",
    "get_staff",
    "gettext",
    "load_session",
    "login_required",
    "login_user",
    "logout_user",
    "refresh_session",
    "request_language",
    "requires",
    "safe_next",
    "session_value",
    "settings_from_config",
    "start_view_as",
    "user_agent",
    "viewing_as",
    "visible_fields",
    "visible_or_404",
]
