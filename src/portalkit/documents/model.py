"""Document records."""
