"""Every DNS question Sealpost asks goes through a ``Resolver`` (tests use a real DNS
server on loopback)."""
