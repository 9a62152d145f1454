"""Sans-I/O SMTP: bytes in, events and replies out; never touches sockets or asyncio.

``server`` is the inbound state machine (RFC 5321, 3207, 1870, 2920, 6152, 6531, 4954,
8689); ``grammar`` parses command lines, ``params`` checks MAIL parameters, ``relay``
decides which recipients and senders a session may use, ``data`` reads the DATA phase
and ``sasl`` runs AUTH exchanges. Only ``sealpost.model`` is imported from Sealpost.
"""
