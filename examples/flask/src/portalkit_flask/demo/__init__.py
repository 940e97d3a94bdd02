"""The demo portal: ``python -m portalkit_flask.demo`` (see ``--help``).

A transport firm's customer portal on SQLite, with a customer whose logins hold each of the
five access levels of the transport product, a customer admin who adds logins, vendor staff
who view the portal as a customer, and a page that shows the mail portalkit sent.
"""

from portalkit_flask.demo.app import create_app

__all__ = ["create_app"]
