"""Network code: the only package that touches sockets and TLS (DESIGN.md section 2)."""
