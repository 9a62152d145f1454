"""DKIM (RFC 6376, RFC 8301, RFC 8463): ``keys`` (what a signing key is; generating, loading
and publishing one), ``key_files`` (the key material of sending domains and its private
files) and ``signer`` (signing what we originate with dkimpy). Which keys sign at a given
moment is the sending domains' business (``domains.signers``)."""
