"""SMTP TLS Reporting (RFC 8460).

The reports we send: ``rua`` (the ``_smtp._tls`` record), ``aggregate`` (a day's tallies
into reports), ``report_mail`` (the section 5.3 message and the section 5.1 file name),
``post`` (the section 5.4 HTTPS upload, through the egress rule), ``send`` (one day's run:
build, claim, deliver each report) and ``daily`` (the run after each midnight UTC).

The reports other senders send us about reaching our MX over TLS: ``payload`` reads a report
body (gzip or JSON, decompression bounded), ``received`` checks its fields (section 4.4) and
makes the stored record, ``mail`` finds the report in a message (section 5.3), ``intake``
reads the held local mail for reports in the background.
"""
