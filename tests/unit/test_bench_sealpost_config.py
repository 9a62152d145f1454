"""The benchmark's Sealpost config is what ``sealpost init`` writes plus the listed changes.

Issue 12 item 1: the benchmark runs what users run. These tests run the real ``sealpost init``
and prove that the benchmark's file differs from init's in exactly the keys of the changes
table, that each change's "init" column is init's real value, that logging, delivery, the API
and the per-IP limits are left as init writes them, and that the result loads as ``serve``
would load it.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from bench.outbound import OutboundSettings, sealpost_drain, sealpost_held
from bench.peers import make_pki
from bench.sealpost_config import (
    DELIVERY_DISABLED,
    Change,
    ConfigEditError,
    build,
    edit,
    flatten,
    inbound_settings,
    lookup,
    run_init,
    verify,
)

from sealpost.config.loader import load_config


@pytest.fixture(scope="module")
def init_text(tmp_path_factory: pytest.TempPathFactory) -> str:
    return run_init(tmp_path_factory.mktemp("init") / "sp")


def _diff(a: str, b: str) -> set[str]:
    before, after = flatten(tomllib.loads(a)), flatten(tomllib.loads(b))
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


def test_inbound_config_differs_from_init_only_in_the_listed_keys(init_text: str):
    config = build("Sealpost", init_text, inbound_settings(Path("/c.pem"), Path("/k.pem")))
    keys = [c.key for c in config.changes]
    assert _diff(init_text, config.text) == set(keys)
    init = tomllib.loads(init_text)
    for change in config.changes:  # the table's "init" column is init's own value
        assert change.init == lookup(init, change.key)
        assert change.init != change.bench and change.why
    assert set(keys) == {
        "server.hostname",
        "server.local_domains",
        "tls.cert_file",
        "tls.key_file",
        "smtp.listeners[mx].address",
        "smtp.listeners[submission].address",
        "smtp.listeners[submissions].address",
        "api.address",
        "metrics.address",
    }


def test_inbound_config_keeps_init_logging_delivery_api_limits_and_listeners(init_text: str):
    init = flatten(tomllib.loads(init_text))
    config = build("Sealpost", init_text, inbound_settings(Path("/c.pem"), Path("/k.pem")))
    bench = flatten(tomllib.loads(config.text))
    kept = [k for k in init if k.split(".")[0] in ("log", "delivery", "api", "store")]
    kept += [k for k in init if "limit" in k or "max_connections" in k or "rate" in k]
    for key in kept:
        if key != "api.address":
            assert bench[key] == init[key], key
    assert bench["delivery.enabled"] is True and bench["api.enabled"] is True
    assert "127.0.0.0/8" in bench["server.limit_exempt"]  # loopback exempt, like $mynetworks
    names = [lst["name"] for lst in tomllib.loads(config.text)["smtp"]["listeners"]]
    assert names == [lst["name"] for lst in tomllib.loads(init_text)["smtp"]["listeners"]]


def test_bench_config_loads_like_serve_loads_it(init_text: str, tmp_path: Path):
    pki = make_pki(tmp_path / "pki")
    config = build("Sealpost", init_text, inbound_settings(pki.cert_file, pki.key_file))
    path = tmp_path / "sealpost.toml"
    path.write_text(config.text)
    loaded = load_config(path)
    assert loaded.server.hostname == "mx.bench.test"
    assert loaded.server.local_domains == ["bench.test"]
    assert {lst.address for lst in loaded.smtp.listeners} == {"127.0.0.1:0"}
    assert loaded.delivery.enabled and loaded.api.enabled
    assert loaded.log.level == tomllib.loads(init_text)["log"]["level"]


def test_variants_add_their_changes_to_the_inbound_ones(init_text: str, tmp_path: Path):
    pki = make_pki(tmp_path / "pki")
    base = inbound_settings(pki.cert_file, pki.key_file)
    off = build("off", init_text, [*base, DELIVERY_DISABLED])
    assert _diff(init_text, off.text) == {k for k, _, _ in base} | {"delivery.enabled"}
    assert tomllib.loads(off.text)["delivery"]["enabled"] is False
    held = build("held", init_text, [*base, *sealpost_held()])
    assert lookup(tomllib.loads(held.text), "mta_sts.enabled") is False
    drain = build("drain", init_text, [*base, *sealpost_drain(pki, 2500, OutboundSettings(10))])
    smarthost = next(c for c in drain.changes if c.key == "delivery.smarthost")
    assert smarthost.init is None  # init leaves it unset: the line was uncommented
    parsed = tomllib.loads(drain.text)["delivery"]
    assert parsed["smarthost"] == "127.0.0.1:2500" and parsed["ca_file"] == str(pki.ca_file)
    assert parsed["concurrency"] == 20 == parsed["per_domain_concurrency"]
    path = tmp_path / "drain.toml"
    path.write_text(drain.text)
    assert load_config(path).delivery.smarthost == "127.0.0.1:2500"


def test_edit_refuses_a_key_init_does_not_have_or_a_wrong_table(init_text: str):
    with pytest.raises(ConfigEditError):
        edit(init_text, [Change("nosuch.key", None, 1, "x")])
    with pytest.raises(ConfigEditError):
        edit(init_text, [Change("smtp.listeners[nosuch].address", None, "127.0.0.1:0", "x")])


def test_edit_detects_a_change_that_is_not_on_the_list(init_text: str):
    sneaky = init_text.replace('level = "info"', 'level = "warning"', 1)
    assert sneaky != init_text
    with pytest.raises(ConfigEditError, match=r"log\.level"):
        verify(init_text, sneaky, [])
    listed = Change("log.level", "info", "warning", "x")
    verify(init_text, sneaky, [listed])
