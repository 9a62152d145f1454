"""Config table of the web console ([console]): served under /console/ on the API's listener."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from sealpost.config.section import Section


class ConsoleSection(Section):
    """The web console (docs/console.md): pages under ``/console/`` on the API's HTTPS
    listener, for API keys with the ``console/access`` grant and for console users
    (``sealpost users create``). Off unless enabled; ``sealpost init`` and
    ``serve --dev`` write a development config that enables it."""

    enabled: bool = Field(
        False, description="Serve the web console at https://<[api] address>/console/."
    )
    idle_timeout_minutes: Annotated[float, Field(gt=0, le=24 * 60)] = Field(
        30.0,
        description="A console session unused this many minutes ends; the next page asks "
        "to log in again.",
    )
    login_per_minute: Annotated[int, Field(ge=1, le=1000)] = Field(
        10,
        description="Log-in attempts one client IP address may make in any 60 seconds; "
        "more are answered 429 until the window passes.",
    )
