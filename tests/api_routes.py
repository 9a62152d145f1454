"""Every route of the HTTPS API with the grants its dependencies require, found by walking the
FastAPI application (so a route added later is found without anyone listing it)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

import fastapi.routing
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant

from sealpost.api.app import create_app
from sealpost.api.auth import GrantRequired
from sealpost.api.context import ApiContext
from sealpost.model.grants import Grant

# The only routes anyone may call without a key: the OpenAPI document.
PUBLIC = frozenset({("GET", "/api/v1/openapi.json"), ("HEAD", "/api/v1/openapi.json")})


@dataclass(frozen=True)
class ApiRoute:
    method: str
    path: str
    grants: frozenset[Grant]

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


def _route_contexts(app: FastAPI) -> Iterable[Any]:
    """Routes with their effective dependencies, including those of included routers (newer
    FastAPI includes routers lazily; older versions copy their routes into ``app.routes``)."""
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    return list(iterate(app.routes)) if iterate is not None else list(app.routes)


def _grants(dependant: Dependant | None) -> set[Grant]:
    if dependant is None:
        return set()
    found: set[Grant] = set()
    for sub in dependant.dependencies:
        if isinstance(sub.call, GrantRequired):
            found.add(sub.call.grant)
        found |= _grants(sub)
    return found


def routes_of(app: FastAPI) -> list[ApiRoute]:
    """One ``ApiRoute`` per method of every route of ``app``."""
    found = []
    for route in _route_contexts(app):
        grants = frozenset(_grants(getattr(route, "dependant", None)))
        for method in sorted(route.methods or ()):
            found.append(ApiRoute(method, route.path, grants))
    return found


def api_routes() -> list[ApiRoute]:
    """The routes of Sealpost's API under ``/api/v1``, public ones included."""
    app = create_app(cast(ApiContext, None))  # building the routes needs no context
    return [r for r in routes_of(app) if r.path.startswith("/api/v1")]


def guarded_routes() -> list[ApiRoute]:
    """The routes that must require a grant: every ``/api/v1`` route but the public ones."""
    return [r for r in api_routes() if (r.method, r.path) not in PUBLIC]
