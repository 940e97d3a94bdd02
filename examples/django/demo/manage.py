#!/usr/bin/env python3
"""The Django demo portal: ``python manage.py demo`` makes and fills ``demo.db`` and serves it."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_site.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
