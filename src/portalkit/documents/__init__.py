"""Documents the vendor shares with its customers (in progress)."""
