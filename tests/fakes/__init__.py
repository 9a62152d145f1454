"""One in-memory fake per interface, for unit tests without sockets.

Each fake is held to its interface's contract by the same suite that checks the real
implementation (``tests/conformance``), so a unit test that passes over a fake says
something about production. Add to the fake here rather than writing another one in a test.
"""
