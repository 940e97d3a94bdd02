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
# The field-service client: Piet lists his work requests and files one at a site of his
# hotel, through the form with its CSRF token; Eva has no work-request capability.
from portalkit import STAFF_PERMISSIONS, Staff

piet, answer = browser("piet")
assert answer.status_code == 302
page = piet.get("/work-requests/")
html = page.content.decode()
assert page.status_code == 200 and "Heat pump makes noise at night" in html, html
assert "Zeezicht Noord" in html and "Zeezicht Zuid" in html, html
token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
south = re.search(r'<option value="([0-9a-f-]+)"[^>]*>Zeezicht Zuid<', html).group(1)
form = {"site": south, "subject": "Lift stuck on floor 3", "notes": "Since this morning.",
        "wished_at": "2026-12-14T10:30"}
assert piet.post("/work-requests/", form).status_code == 403  # no CSRF token: refused
assert "Lift stuck" not in piet.get("/work-requests/").content.decode()
filed = piet.post("/work-requests/", {**form, "csrfmiddlewaretoken": token})
assert filed.status_code == 302 and filed["Location"] == "/work-requests/", filed.content.decode()[-2000:]
html = piet.get("/work-requests/").content.decode()
assert "Lift stuck on floor 3" in html and "2026-12-14 10:30" in html, html
staff = Staff(vendor_id=portal.default_vendor().id, user_id="t", permissions=STAFF_PERMISSIONS)
hotel = next(c for c in portal.customers.list(staff) if c.code == "ZEEZICHT")
mine = [w for w in portal.work_requests.list(staff) if w.subject == "Lift stuck on floor 3"]
assert len(mine) == 1 and mine[0].customer_id == hotel.id, mine
# A site of another customer is not Piet's to file at, whatever the form posts: unseen (404).
bakery = next(c for c in portal.customers.list(staff) if c.code == "MOLEN")
elsewhere = portal.locations.create(staff, customer=bakery, name="Bakkerij Zwolle")
outside = piet.post("/work-requests/", {
    **form, "csrfmiddlewaretoken": token, "site": str(elsewhere.id), "subject": "Oven broken",
})
assert outside.status_code == 404, outside.status_code
assert "Bakkerij Zwolle" not in piet.get("/work-requests/").content.decode()
assert not [w for w in portal.work_requests.list(staff) if w.subject == "Oven broken"]
# portalkit's own problems, in the member's language: a missing subject, notes too long.
for language, words in {
    "en": ("Work requests", "Subject"), "nl": ("Werkverzoeken", "Onderwerp"),
    "de": ("Arbeitsaufträge", "Betreff"),
}.items():
    client, _ = browser("piet", language)
    html = client.get("/work-requests/").content.decode()
    assert all(word in html for word in words), (language, html)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    bad = client.post("/work-requests/", {
        **form, "csrfmiddlewaretoken": token, "subject": "", "notes": "x" * 4001,
    })
    assert bad.status_code == 400, bad.status_code
    errors = re.findall(r'class="errors" role="alert">([^<]+)<', bad.content.decode())
    assert len(errors) == 2, (language, errors)
    wanted = {
        "en": ("required", "4000"),
        "nl": ("verplicht", "4000"),
        "de": ("erforderlich", "4000"),
    }[language]
    assert all(any(w in e for e in errors) for w in wanted), (language, errors)
eva, answer = browser("eva")
assert answer.status_code == 302
assert eva.get("/work-requests/").status_code == 403
assert "/work-requests/" not in eva.get("/").content.decode()  # no link to it either
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
