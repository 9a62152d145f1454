"""Issue 10 item 2 over real HTTPS: for every ``/api/v1`` route, no key is 401, a key holding
every grant but the route's is 403 with SparkPost's body naming the grant, and a key holding
only that grant gets past authorisation. The routes come from walking the application, so a
route added later joins the matrix by itself."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sealpost.api_keys import create_key
from sealpost.config.loader import load_config
from sealpost.model.grants import ALL_GRANTS, Grant
from tests.api_routes import ApiRoute, guarded_routes
from tests.support import Pki, ServerThread, make_pki, write_config

ROUTES = guarded_routes()
NEEDED = sorted({grant for route in ROUTES for grant in route.grants})


class Rig:
    """One server for the whole matrix, and two keys per grant in use."""

    def __init__(self, server: ServerThread, pki: Pki) -> None:
        self.server, self.pki = server, pki
        self.only: dict[Grant, str] = {}
        self.all_but: dict[Grant, str] = {}
        for grant in NEEDED:
            self.only[grant] = self._key({grant})
            self.all_but[grant] = self._key(ALL_GRANTS - {grant})

    def _key(self, grants: frozenset[Grant] | set[Grant]) -> str:
        store = self.server.app.store
        key, _ = self.server.call(lambda: create_key(store, "matrix", 0.0, grants=grants))
        return key

    def call(self, route: ApiRoute, key: str | None) -> httpx.Response:
        headers = {"Authorization": key} if key else {}
        path = re.sub(r"\{[^}]+\}", "no-such-thing", route.path)
        body = {"json": {}} if route.method in ("POST", "PUT") else {}
        with httpx.Client(verify=self.pki.client_context(), timeout=10) as client:
            url = f"https://127.0.0.1:{self.server.ports['api']}{path}"
            return client.request(route.method, url, headers=headers, **body)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    base: Path = tmp_path_factory.mktemp("grants")
    pki = make_pki(base / "pki")
    server = ServerThread(load_config(write_config(base, pki))).start()
    try:
        yield Rig(server, pki)
    finally:
        server.stop()


def test_the_matrix_covers_every_route():
    assert len(ROUTES) >= 25 and all(len(r.grants) == 1 for r in ROUTES)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.id)
def test_a_key_without_the_routes_grant_is_forbidden(rig: Rig, route: ApiRoute):
    [grant] = route.grants
    assert rig.call(route, None).status_code == 401
    refused = rig.call(route, rig.all_but[grant])
    assert refused.status_code == 403, refused.text
    [error] = refused.json()["errors"]
    assert error["message"] == "Forbidden." and error["code"] == "1100"
    assert f"'{grant.value}'" in error["description"]


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.id)
def test_a_key_with_only_the_routes_grant_gets_through(rig: Rig, route: ApiRoute):
    [grant] = route.grants
    answered = rig.call(route, rig.only[grant])
    assert answered.status_code not in (401, 403), answered.text
    assert answered.status_code < 500, answered.text
    if answered.status_code == 404:  # the handler looked the resource up: the route was run
        assert answered.json()["errors"][0]["description"].startswith("Resource not found:")
