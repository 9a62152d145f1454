"""TLS-RPT (RFC 8460): the reports other senders send us about reaching our MX over TLS.

``payload`` reads a report body (gzip or JSON, decompression bounded), ``received`` checks
its fields (section 4.4) and makes the stored record, ``mail`` finds the report in a
message (section 5.3), ``intake`` reads the held local mail for reports in the background.
"""
