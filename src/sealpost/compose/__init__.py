"""Building RFC 5322 / MIME messages from API content (no web framework in here).

``inline`` builds one recipient's message from SparkPost inline content, ``rfc822`` checks
and normalises a caller's complete message, ``substitution`` renders ``{{var}}`` template
data, and ``refusal`` is the one exception every part raises when input must be refused
(header injection, checklist I1-I4), naming the offending field.
"""
