"""Outbound TLS policy: levels, sources (operator rules, MTA-STS, REQUIRETLS), verdicts."""
