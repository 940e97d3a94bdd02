"""Start the demo portal on 127.0.0.1 and print its address and demo logins.

    python -m portalkit_flask.demo [--port 5000] [--dir .]

The SQLite database, the mail folder and the demo's keys are made in ``--dir`` (the current
directory by default) on the first start and reused afterwards. ``--port 0`` takes a free port.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from werkzeug.serving import make_server


def main(argv: list[str] | None = None) -> None:
    """Parse the options, build the demo, print how to use it, serve until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m portalkit_flask.demo", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("PORTALKIT_DEMO_PORT", "5000")),
        help="port on 127.0.0.1 (0: any free port; default 5000 or $PORTALKIT_DEMO_PORT)",
    )
    parser.add_argument(
        "--dir",
        default=os.environ.get("PORTALKIT_DEMO_DIR", "."),
        help="folder for the database, mail and keys (default: the current one)",
    )
    options = parser.parse_args(argv)
    app: dict[str, Any] = {}

    def dispatch(environ: dict[str, Any], start_response: Any) -> Any:
        return app["wsgi"](environ, start_response)

    # The server comes first, so that with --port 0 the portal's base URL (used in the links
    # of its mail) names the port it really got.
    server = make_server("127.0.0.1", options.port, dispatch, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    from portalkit_flask.demo import create_app, data

    flask_app = create_app(options.dir, base_url=url)
    app["wsgi"] = flask_app.wsgi_app
    created = flask_app.extensions["demo"]["created"]
    lines = [
        f"portalkit demo portal: {url}/",
        f"  data in {os.path.abspath(options.dir)} ({'created now' if created else 'reused'})",
        f"  every demo login's password (demo only): {data.DEMO_PASSWORD}",
        "  customer logins (Van Dijk Logistics):",
        *(f"    {name:<10} {about}" for name, (*_, about) in data.LOGINS.items()),
        "  pest-control logins (Horeca Groep Zuid, an umbrella over two branches):",
        *(f"    {name:<10} {about}" for name, (*_, about, _r) in data.PEST_LOGINS.items()),
        "  field-service logins (Hotel Zeezicht: work requests, documents):",
        *(f"    {name:<10} {about}" for name, (*_, about) in data.FIELD_LOGINS.items()),
        "  service-desk logins (Nordlicht IT GmbH: tickets):",
        *(f"    {name:<10} {about}" for name, (*_, about) in data.DESK_LOGINS.items()),
        "  workwear login (Kleedwerk Bedrijfskleding, made by the provisioning run):",
        *(f"    {name:<10} {about}" for name, (*_, about) in data.WORKWEAR_ADMIN.items()),
        f"  vendor staff: {data.STAFF_LOGIN:<10} at {url}/vendor/login (customers, inbox, view as)",
        f"  mail sent by the portal: {url}/mailbox",
        "  Ctrl-C stops it.",
    ]
    print("\n".join(lines), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        sys.stdout.flush()


if __name__ == "__main__":
    main()
