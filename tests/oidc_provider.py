"""A small OpenID Connect provider the SSO tests start and stop on 127.0.0.1.

It serves what a real provider does for the code flow — discovery, its public keys (JWKS),
an authorize endpoint that sends the browser back with a code, and a token endpoint that
checks the client's secret, the redirect and the PKCE verifier before it hands out an ID token
signed with an RS256 key made for the test. A test says who signs in (``identity``) and may
spoil the token it issues (``spoil``: claims to change, another key, another algorithm).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey


class Provider:
    """The provider's state: its keys, its one client, the codes it issued."""

    def __init__(self, clock: Callable[[], datetime], client_id: str, client_secret: str) -> None:
        self.clock = clock
        self.client_id = client_id
        self.client_secret = client_secret
        self.key = _key()
        self.identity: dict[str, Any] = {}
        #: Claims to change in the next ID tokens (None removes one).
        self.spoil: dict[str, Any] = {}
        #: Sign with this key instead (a key the JWKS does not publish).
        self.sign_with: Any = None
        self.alg = "RS256"
        self.codes: dict[str, dict[str, Any]] = {}
        self.issuer = ""
        self.token_requests = 0

    def id_token(self, grant: dict[str, Any]) -> str:
        now = int(self.clock().timestamp())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": "subject-" + str(self.identity.get("email", "")),
            "aud": self.client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": grant["nonce"],
            **self.identity,
        }
        for name, value in self.spoil.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        header = {"alg": self.alg, "kid": "k1"}
        if self.alg == "none":
            body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
            head = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
            return f"{head}.{body}."
        if self.alg.startswith("HS"):
            key: Any = OctKey.import_key(self.client_secret)
            return jwt.encode(header, claims, key, algorithms=[self.alg])
        return jwt.encode(header, claims, self.sign_with or self.key, algorithms=[self.alg])


@functools.cache
def _key() -> RSAKey:
    """The provider's signing key: made once per test run (2048-bit RSA takes a while)."""
    return RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"})


def _handler(provider: Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _json(self, body: dict[str, Any], status: int = 200) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/.well-known/openid-configuration":
                base = provider.issuer
                self._json(
                    {
                        "issuer": base,
                        "authorization_endpoint": base + "/authorize",
                        "token_endpoint": base + "/token",
                        "jwks_uri": base + "/jwks",
                        "response_types_supported": ["code"],
                        "id_token_signing_alg_values_supported": ["RS256"],
                    }
                )
            elif url.path == "/jwks":
                self._json({"keys": [provider.key.as_dict(private=False)]})
            elif url.path == "/authorize":
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                code = secrets.token_urlsafe(16)
                provider.codes[code] = query
                target = (
                    query["redirect_uri"] + "?" + urlencode({"code": code, "state": query["state"]})
                )
                self.send_response(302)
                self.send_header("Location", target)
                self.end_headers()
            else:
                self._json({"error": "not_found"}, 404)

        def do_POST(self) -> None:
            if urlsplit(self.path).path != "/token":
                self._json({"error": "not_found"}, 404)
                return
            provider.token_requests += 1
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            expected = base64.b64encode(
                f"{provider.client_id}:{provider.client_secret}".encode()
            ).decode()
            grant = provider.codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            challenge = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                .rstrip(b"=")
                .decode()
            )
            if self.headers.get("Authorization") != f"Basic {expected}":
                self._json({"error": "invalid_client"}, 401)
            elif (
                grant is None
                or grant.get("redirect_uri") != form.get("redirect_uri")
                or grant.get("code_challenge_method") != "S256"
                or grant.get("code_challenge") != challenge
            ):
                self._json({"error": "invalid_grant"}, 400)
            else:
                self._json(
                    {
                        "access_token": secrets.token_urlsafe(16),
                        "token_type": "Bearer",
                        "expires_in": 300,
                        "id_token": provider.id_token(grant),
                    }
                )

    return Handler


@contextmanager
def running(
    clock: Callable[[], datetime],
    client_id: str = "portal",
    client_secret: str = "s3cret-of-the-portal-client-at-the-provider",
) -> Iterator[Provider]:
    """A provider on 127.0.0.1 (a free port) for the ``with`` block."""
    provider = Provider(clock, client_id, client_secret)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(provider))
    provider.issuer = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
