"""The one door for new mail (DESIGN.md section 1): ``door`` (``Submission``: check, sign,
stamp, store durably, wake), ``sender_identity`` (a restricted key may only send as its own
domains, envelope and header alike) and ``received`` (the RFC 5321 section 4.4 trace header).
Every listener and the HTTPS API call ``Submission``; nothing acknowledges a message before
it has returned."""
