"""``[cluster] node_id`` is unique among running nodes (docs/cluster.md): a second
``sealpost serve`` under an id a live node holds refuses to start with one clear error,
with one process or several workers, and leaves the running node alone; a node restarted
after ``kill -9`` on the same host takes its id back at once.

Real parts only: the PostgreSQL server of ``tests/fixtures/postgres.py`` and real ``sealpost
serve`` processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_cluster import node_config
from tests.support import Pki, make_pki


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


def serve_refused(config: Path) -> str:
    """``sealpost serve``'s stderr; it must exit non-zero without becoming ready."""
    command = [sys.executable, "-m", "sealpost", "serve", "-c", str(config)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "sealpost ready" not in done.stdout, done.stdout
    return done.stderr


@pytest.mark.parametrize("workers", [1, 2])
def test_a_second_node_under_a_live_nodes_id_refuses_to_start(
    tmp_path: Path, pki: Pki, pg_url: str, smtp_sink, spawn, workers: int
) -> None:
    sink = smtp_sink()
    first = spawn(node_config(tmp_path / "a", pki, pg_url, sink, "twin"))
    twin = node_config(tmp_path / "b", pki, pg_url, sink, "twin", workers=workers)
    error = serve_refused(twin)
    assert "node_id 'twin' is in use by a running node" in error, error
    assert f"pid {first.proc.pid}" in error and "Traceback" not in error, error
    assert first.proc.poll() is None, "the running node is left alone"
    other = spawn(node_config(tmp_path / "c", pki, pg_url, sink, "other", workers=workers))
    for server in (first, other):
        assert server.terminate() == ""
    # A clean stop gives the id back: the twin's config starts now.
    assert spawn(twin).terminate() == ""


def test_a_node_killed_and_restarted_on_the_same_host_takes_its_id_back_at_once(
    tmp_path: Path, pki: Pki, pg_url: str, smtp_sink, spawn
) -> None:
    sink = smtp_sink()
    config = node_config(tmp_path / "a", pki, pg_url, sink, "phoenix")
    spawn(config).kill_all()  # kill -9: no unregistering, the heartbeat is fresh
    restarted = spawn(config)  # ready, not refused (spawn fails if it does not start)
    assert "node_id" not in restarted.terminate()
