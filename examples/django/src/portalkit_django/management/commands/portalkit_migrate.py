"""``manage.py portalkit_migrate``: portalkit's migrations, beside Django's ``migrate``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from portalkit_django.apps import get_portal


class Command(BaseCommand):
    """Create or upgrade portalkit's tables (under the table prefix, with their own version
    table) on the database portalkit shares; ``--downgrade base`` drops them, and only them."""

    help = "Run portalkit's migrations (its tables beside Django's, under the table prefix)."

    def add_arguments(self, parser: Any) -> None:
        """``--downgrade REVISION``."""
        parser.add_argument("--downgrade", metavar="REVISION", default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the migrations."""
        storage: Any = get_portal().storage
        if options["downgrade"]:
            storage.downgrade_schema(options["downgrade"])
            said = f"portalkit's tables downgraded to {options['downgrade']}"
        else:
            storage.upgrade_schema()
            said = "portalkit's tables are up to date"
        if options["verbosity"]:
            self.stdout.write(said)
