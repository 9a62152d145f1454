"""SMTP TLS Reporting (RFC 8460), the reports we send: ``rua`` (the ``_smtp._tls`` record),
``aggregate`` (a day's tallies into reports), ``report_mail`` (the section 5.3 message and
the section 5.1 file name), ``post`` (the section 5.4 HTTPS upload, through the egress
rule), ``send`` (one day's run: build, claim, deliver each report) and ``daily`` (the run
after each midnight UTC)."""
