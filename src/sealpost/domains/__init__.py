"""Sending domains: their records, DKIM keys, DNS verification, and the signer built from them.

``records`` (names and the stored document), ``keys`` (key material and key files),
``dkim_check`` (the DKIM TXT check, reference section 6), ``registry`` (create, update,
verify, delete), ``signers`` (the DKIM signer of the verified domains). No web framework here:
the HTTP layer is ``sealpost.api.sending_domains_v1``.
"""
