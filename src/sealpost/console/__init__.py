"""The web console (issue 16): server-rendered pages under ``/console/`` on the API's HTTPS
listener (docs/console.md), Jinja2 templates with htmx, no inline script, no CDN.

Modules: ``app`` builds the console's ASGI app and puts it in front of the API;
``context`` is what pages use; ``security`` owns the response headers (CSP), the CSRF and
Origin checks; ``sessions`` the server-side session records; ``users`` the console's local
users (argon2 password hashes); ``login`` the log-in and log-out pages; ``guard`` the
``page`` decorator that every page goes through; ``render`` the templates; ``nav`` the menu;
``pages/*`` one module per page.

How to add a page: write ``pages/<name>.py`` with ``async def`` handlers decorated with
``@page(Grant.X, ...)`` (``guard.page``: the session, the CSRF check on anything but GET and
HEAD, and the grants, ANY of which lets the caller in, exactly as the API endpoint behind
the page requires), returning ``render.page(request, "<name>.html", {...})``; export a
``ROUTES`` list of Starlette ``Route`` objects with paths under ``/console/``; add the module
to ``PAGE_MODULES`` in ``app.py`` and, for a menu entry, a ``NavItem`` to ``nav.NAV`` naming
the grants that show it. Templates extend ``layout.html``; every state-changing form carries
``{{ csrf_field() }}`` (htmx requests send the token as ``X-CSRF-Token`` from
``static/console.js``). Test it in ``tests/browser/``.
"""
