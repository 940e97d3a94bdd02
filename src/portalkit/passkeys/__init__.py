"""Passkeys (WebAuthn): a second factor for log-ins, and a log-in without a password."""
