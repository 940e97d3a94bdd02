"""``manage.py demo_seed``: Django's and portalkit's tables, then the demo world."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand
from portalkit_django.apps import get_portal

from demo_site.seed import DEMO_PASSWORD, FIELD_LOGINS, LOGINS, seed


class Command(BaseCommand):
    """Make and fill the demo database (once; a filled one is left as it is)."""

    help = "Create the demo's tables and fill them with the demo world."

    def handle(self, *args: Any, **options: Any) -> None:
        """Migrate both, seed, and print the logins."""
        call_command("migrate", verbosity=0)
        call_command("portalkit_migrate", verbosity=0)
        filled = seed(get_portal())
        if options["verbosity"]:
            self.stdout.write("demo world filled" if filled else "demo world was there already")
            for username, (_, _, _, what) in {**LOGINS, **FIELD_LOGINS}.items():
                self.stdout.write(f"  {username:10} {what}")
            self.stdout.write(f"password of every login: {DEMO_PASSWORD}")
