"""Where links may lead: ``safe_redirect`` for the "next" parameter of a login form.

Links in portalkit's own mail start with ``PORTALKIT_BASE_URL`` and never with anything taken
from a request. A redirect after login is the other way a link can be bent: an attacker hands
out ``/login?next=//evil.example`` and the portal sends the freshly logged-in member there.

Example::

    target = safe_redirect(request.args.get("next"))            # "/" unless it is safe
    target = safe_redirect(next_url, allowed_hosts={"shop.acme.example"})
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

__all__ = ["safe_redirect"]

_MAX = 2000


def _odd(text: str, *, spaces: bool = False) -> bool:
    # Browsers drop tabs and line breaks inside URLs and read "\" as "/", so "/\tevil" or
    # "/\\evil" may become "//evil": refuse every such character instead of guessing.
    return any(
        ch == "\\" or ord(ch) < 0x20 or ord(ch) == 0x7F or (ch.isspace() and not spaces)
        for ch in text
    )


def safe_redirect(target: object, *, allowed_hosts: Iterable[str] = (), default: str = "/") -> str:
    """``target`` if it stays on this site, else ``default``.

    Accepted: a path on this site (``/orders?page=2``), or an ``https`` URL whose host is in
    ``allowed_hosts`` (exactly, case-insensitively, without user info). Refused: anything
    with a scheme or host otherwise (``https://evil``, ``//evil``, ``https:evil``), relative
    paths, backslashes, whitespace and control characters anywhere, encoded slashes or
    backslashes that decode into such forms (``/%2F%2Fevil``), non-text and over-long input.
    """
    if not isinstance(target, str) or not target or len(target) > _MAX:
        return default
    decoded = unquote(target)
    # An encoded space is a plain space in a path; encoded control characters are not.
    if _odd(target) or _odd(decoded, spaces=True):
        return default
    try:
        parts = urlsplit(target)
    except ValueError:  # e.g. an invalid IPv6 literal
        return default
    if parts.scheme or parts.netloc:
        hosts = {h.lower() for h in allowed_hosts}
        if (
            parts.scheme == "https"
            and parts.hostname is not None
            and parts.netloc.lower() == parts.hostname.lower()  # no user info, no port tricks
            and parts.hostname.lower() in hosts
        ):
            return target
        return default
    if not target.startswith("/") or target.startswith("//") or decoded.startswith("//"):
        return default
    return target
