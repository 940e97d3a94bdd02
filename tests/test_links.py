"""B7: a login's "next" parameter never leads off the site."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portalkit.links import safe_redirect

EVIL = [
    "//evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "https:evil.example",
    "https://evil.example/login",
    "http://portal.example",
    "%2F%2Fevil.example",
    "/%2F%2Fevil.example",
    "/%5Cevil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    " //evil.example",
    "javascript:alert(1)",
    "data:text/html,hi",
    "orders",
    "https://portal.example@evil.example/",
    "https://user@shop.acme.example/",
    "https://shop.acme.example:443@evil.example/",
    "/" + "a" * 3000,
    "",
    None,
    ["/orders"],
]


@pytest.mark.parametrize("target", EVIL)
def test_redirects_off_the_site_fall_back(target: object) -> None:
    assert safe_redirect(target, allowed_hosts={"shop.acme.example"}) == "/"


@pytest.mark.parametrize(
    "target", ["/", "/orders?page=2", "/invoices/F-1001#top", "/a%20b", "/%C3%A9t%C3%A9"]
)
def test_paths_on_the_site_are_kept(target: str) -> None:
    assert safe_redirect(target) == target


def test_listed_hosts_are_allowed_over_https_only() -> None:
    hosts = {"Shop.Acme.example"}
    assert safe_redirect("https://shop.acme.example/cart", allowed_hosts=hosts) == (
        "https://shop.acme.example/cart"
    )
    assert safe_redirect("http://shop.acme.example/cart", allowed_hosts=hosts) == "/"
    assert safe_redirect("https://shop.acme.example.evil/", allowed_hosts=hosts) == "/"


_PIECES = st.sampled_from(
    ["/", "//", "\\", "%2F", "%2f", "%5C", "\t", "\n", "\r", " ", ":", "@", "evil", "https",
     "?", "#", ".", "..", "%", "%0A", "a"]
)  # fmt: skip


@settings(max_examples=500)
@given(st.lists(_PIECES, max_size=8).map("".join) | st.text(max_size=40))
def test_whatever_is_accepted_stays_on_the_site(target: str) -> None:
    result = safe_redirect(target, default="/fallback")
    if result == "/fallback":
        return
    # What a browser would make of it: tabs and line breaks dropped, "\" read as "/".
    for form in (result, unquote(result)):
        seen = form.replace("\t", "").replace("\n", "").replace("\r", "").replace("\\", "/")
        parts = urlsplit(seen)
        assert parts.scheme == "" and parts.netloc == ""
        assert seen.startswith("/") and not seen.startswith("//")
