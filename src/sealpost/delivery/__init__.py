"""Outbound delivery: routing, one SMTP session per attempt, classification, scheduling,
the dispatcher that drives them, and DSN bounces."""
