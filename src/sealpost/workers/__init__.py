"""Several worker processes on the same listening sockets (``[server] workers``).

``supervisor`` is the parent process (pre-fork, like nginx or gunicorn): it binds nothing
itself, it is handed the listening sockets, forks the workers, restarts one that dies and
forwards signals. ``seat`` is what one worker inherits from it (its sockets, the shared limit
table, its pipes); ``wake`` carries "new mail queued" from the other workers to the one that
runs delivery. Imports only ``inbound`` (the shared limit table); the composition root
(``app.py``) decides what a worker runs, and ``runner.py`` starts them.
"""
