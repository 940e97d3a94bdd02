"""Second factors for log-ins: time-based one-time passwords (RFC 6238) and recovery codes."""
