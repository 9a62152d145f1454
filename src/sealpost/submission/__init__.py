"""The one door for new mail (DESIGN.md section 1): ``door`` (``Submission``: check, sign,
stamp, store durably, wake), ``sender_identity`` (a restricted key may only send as its own
domains, envelope and header alike), ``received`` (the RFC 5321 section 4.4 trace header),
``local_hold`` (which mail stays here and is stored held) and ``activity`` (the door's
summary log line per interval).
Every listener and the HTTPS API call ``Submission``; nothing acknowledges a message before
it has returned."""
