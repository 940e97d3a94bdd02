"""The OpenID Connect client side of single sign-on, through authlib and joserfc.

Everything here talks to the customer's provider or checks what it sent; nothing here knows
portalkit's records. Every failure is an :class:`OidcRefused` with a short reason for the
audit log (never shown to the person: every refusal looks the same to them).
"""

from __future__ import annotations

import ipaddress
import math
from typing import Any
from urllib.parse import urlsplit

import attrs

from portalkit.errors import ImproperlyInstalled

__all__ = ["ALGORITHMS", "OidcRefused", "Provider", "check_url", "discover", "verify_id_token"]

#: The ID token signatures accepted: public-key ones only. Never "none", never an HMAC keyed
#: with the client secret (anyone who holds that secret — the host too — could mint tokens).
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")

#: Clock skew tolerated between us and the provider, in seconds.
LEEWAY = 60

_MAX_DOCUMENT = 512 * 1024  # a discovery document or key set is a few kilobytes


class OidcRefused(Exception):
    """The provider's answer cannot be trusted (or there was none); ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@attrs.frozen
class Provider:
    """What a provider's discovery document says, once checked."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


def check_url(url: object, *, loopback: bool) -> bool:
    """Whether ``url`` is an absolute https URL without credentials or fragment (or, with
    ``loopback``, an http one on 127.0.0.1: a provider the tests run)."""
    if not isinstance(url, str) or not url or len(url) > 2000:
        return False
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError:
        return False
    if not host or parts.username is not None or parts.password is not None or parts.fragment:
        return False
    if parts.scheme == "https":
        return True
    if parts.scheme != "http" or not loopback:
        return False
    try:
        return ipaddress.ip_address(host) == ipaddress.ip_address("127.0.0.1")
    except ValueError:
        return False


def _authlib() -> Any:
    try:
        from authlib.integrations.requests_client import OAuth2Session
    except ImportError:  # pragma: no cover - tested in a subprocess without the extra
        raise ImproperlyInstalled("single sign-on", "sso") from None
    return OAuth2Session


def session(
    client_id: str, client_secret: str = "", *, timeout: float
) -> Any:  # authlib's OAuth2Session
    """An OAuth 2 client session of authlib, with PKCE (S256) and a timeout on every call."""
    return _authlib()(
        client_id=client_id,
        client_secret=client_secret or None,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",  # noqa: S106 - a method's name
        default_timeout=timeout,
    )


def _get_json(http: Any, url: str) -> dict[str, Any]:
    try:
        # No redirects: a provider's documents live where its issuer says they do.
        response = http.get(url, withhold_token=True, allow_redirects=False)
    except Exception as exc:  # requests' and authlib's errors alike: the provider failed
        raise OidcRefused(f"unreachable: {type(exc).__name__}") from None
    if response.status_code != 200 or len(response.content) > _MAX_DOCUMENT:
        raise OidcRefused(f"bad_response: {response.status_code}")
    try:
        found = response.json()
    except ValueError:
        raise OidcRefused("not_json") from None
    if not isinstance(found, dict):
        raise OidcRefused("not_json")
    return found


def discover(http: Any, issuer: str, *, loopback: bool) -> Provider:
    """Read and check the provider's discovery document (OpenID Connect Discovery 1.0)."""
    found = _get_json(http, issuer.rstrip("/") + "/.well-known/openid-configuration")
    # The document must name the very issuer configured (Discovery 1.0, section 4.3).
    if found.get("issuer") != issuer:
        raise OidcRefused("issuer_mismatch")
    urls = [found.get(k) for k in ("authorization_endpoint", "token_endpoint", "jwks_uri")]
    if not all(check_url(u, loopback=loopback) for u in urls):
        raise OidcRefused("bad_endpoint")
    return Provider(issuer, *urls)  # type: ignore[arg-type]


def authorization_url(
    http: Any, provider: Provider, redirect_uri: str, state: str, nonce: str, verifier: str
) -> str:
    """The provider's URL to send the person to (code flow, PKCE S256, a nonce)."""
    url, _ = http.create_authorization_url(
        provider.authorization_endpoint,
        state=state,
        code_verifier=verifier,
        nonce=nonce,
        scope="openid email",
        redirect_uri=redirect_uri,
    )
    return str(url)


def exchange(http: Any, provider: Provider, code: str, redirect_uri: str, verifier: str) -> str:
    """Trade the authorization code for the ID token at the token endpoint."""
    try:
        token = http.fetch_token(
            provider.token_endpoint,
            grant_type="authorization_code",
            code=code,
            redirect_uri=redirect_uri,
            code_verifier=verifier,
            allow_redirects=False,
        )
    except Exception as exc:  # an OAuth error answer, a timeout, a refused connection
        raise OidcRefused(f"token_endpoint: {type(exc).__name__}") from None
    id_token = token.get("id_token") if isinstance(token, dict) else None
    if not isinstance(id_token, str) or not id_token or len(id_token) > 16_000:
        raise OidcRefused("no_id_token")
    return id_token


def keys(http: Any, provider: Provider) -> dict[str, Any]:
    """The provider's public keys (its JWKS)."""
    return _get_json(http, provider.jwks_uri)


def verify_id_token(
    id_token: str, jwks: dict[str, Any], *, issuer: str, client_id: str, nonce: str, now: float
) -> dict[str, Any]:
    """The claims of ``id_token`` once its signature (by one of ``jwks``' keys, with an
    allowed algorithm), issuer, audience, times and nonce hold (OpenID Connect Core 3.1.3.7).
    """
    from joserfc import jwt
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    try:
        key_set = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
        token = jwt.decode(id_token, key_set, algorithms=list(ALGORITHMS))
    except (JoseError, ValueError, TypeError, KeyError):
        raise OidcRefused("bad_signature") from None
    if token.header.get("alg") not in ALGORITHMS:  # pragma: no cover - decode refused it
        raise OidcRefused("bad_algorithm")
    claims: dict[str, Any] = dict(token.claims)
    when = math.floor(now)
    registry = jwt.JWTClaimsRegistry(
        now=when,
        leeway=LEEWAY,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise OidcRefused(f"bad_claims: {exc.error}") from None
    audience = claims["aud"]
    if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != client_id:
        raise OidcRefused("bad_claims: azp")  # several audiences: we must be the one it is for
    return claims
