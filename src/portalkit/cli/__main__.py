"""``python -m portalkit.cli``: the same as the ``portalkit`` command."""

from __future__ import annotations

import sys

from portalkit.cli import main

if __name__ == "__main__":
    sys.exit(main())
