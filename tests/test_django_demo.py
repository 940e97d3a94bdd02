"""The Django demo project (examples/django/demo): made, filled and browsed with Django's test
client, in an interpreter of its own (Django's settings are per process, and the adapter's
tests configure another project)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).parent.parent / "examples" / "django" / "demo"

BROWSE = r"""
import os, re, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "demo_site.settings"
import django
django.setup()
from django.core.management import call_command
from django.test import Client

call_command("demo_seed", verbosity=0)
call_command("demo_seed", verbosity=0)  # a second run leaves the filled database as it is


def browser(who, language="en"):
    client = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE=language)
    page = client.get("/portal/login/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    answer = client.post("/portal/login/", {
        "csrfmiddlewaretoken": token, "login": who, "password": "demo harbour tulip",
        "next": "/orders/",
    })
    return client, answer


for who in ("full", "limited", "readonly"):
    client, answer = browser(who)
    assert answer.status_code == 302 and answer["Location"] == "/orders/", (who, answer)
    html = client.get("/orders/").content.decode()
    assert "VANDIJK-0001" in html and "MOLEN-0004" not in html, html  # its customer's only
    prices = ("187.40", "312.15", "143.90", "99.00", "€")
    shown = [price for price in prices if price in html]
    if who == "full":
        assert shown, html
    else:
        assert not shown, (who, shown)  # no price anywhere in the page
_, refused = browser("noaccess")
assert refused.status_code == 401
for language, words in {"nl": ("Referentie", "Uitloggen"), "de": ("Referenz", "Abmelden")}.items():
    client, _ = browser("limited", language)
    html = client.get("/orders/").content.decode()
    assert all(word in html for word in words), (language, html)
assert "Inloggen" in Client(HTTP_ACCEPT_LANGUAGE="nl").get("/portal/login/").content.decode()
assert "Anmelden" in Client(HTTP_ACCEPT_LANGUAGE="de").get("/portal/login/").content.decode()
# The customer admin invites a login with limited rights; a full login may not.
client, _ = browser("admin")
page = client.get("/admin/logins/").content.decode()
token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
added = client.post("/admin/logins/", {
    "csrfmiddlewaretoken": token, "first_name": "Piet", "last_name": "Pieters",
    "email": "piet@vandijk.example", "profile": "Limited access",
})
assert added.status_code == 302, added.content.decode()[-2000:]
listed = client.get("/admin/logins/").content.decode()
assert "Piet Pieters" in listed and "invited" in listed, listed
dutch, _ = browser("admin", "nl")
assert "Een login toevoegen" in dutch.get("/admin/logins/").content.decode()
full, _ = browser("full")
assert full.get("/admin/logins/").status_code == 403
# The reset round trip: the link in the mail, a new password, a log-in with it.
from portalkit_django.apps import get_portal

portal = get_portal()
stranger = Client(enforce_csrf_checks=True)
page = stranger.get("/portal/forgot-password/").content.decode()
token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
stranger.post("/portal/forgot-password/", {"csrfmiddlewaretoken": token, "login": "limited"})
portal.mail.wait()
body = portal.mailer.outbox[-1].get_body(("plain",)).get_content()
link = re.search(r"http://127\.0\.0\.1:8000(/portal/reset-password/\?token=[\w-]+)", body).group(1)
page = stranger.get(link).content.decode()
token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
new = "windmill lantern pepper canal"
done = stranger.post(link, {
    "csrfmiddlewaretoken": token, "token": link.split("=", 1)[1], "password": new, "confirm": new,
})
assert done.status_code == 302, done.content.decode()[-1500:]
page = stranger.get("/portal/login/").content.decode()
token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
again = stranger.post("/portal/login/", {"csrfmiddlewaretoken": token, "login": "limited", "password": new})
assert again.status_code == 302
print("demo ok")
"""


def test_the_demo_is_made_filled_and_shows_no_price_to_a_limited_login(tmp_path: Path) -> None:
    root = Path(__file__).parent.parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTALKIT_")}
    paths = [str(DEMO), str(root / "src"), str(root / "examples" / "django" / "src")]
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")])
    env["DEMO_DB"] = str(tmp_path / "demo.db")
    env["DEMO_MAIL"] = "memory"
    result = subprocess.run(
        [sys.executable, "-c", BROWSE],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0 and "demo ok" in result.stdout, result.stderr[-4000:]
