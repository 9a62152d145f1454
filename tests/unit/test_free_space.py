"""``[store] min_free``: its values, the free-space verdict, the 452 at MAIL and the gauges."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from sealpost.config.values import size_or_percent
from sealpost.observability.queue_gauges import FreeSpaceGauges
from sealpost.store.free_space import MinFree, SpaceWatch, measure
from tests.unit.test_smtp_support import ready


@pytest.mark.parametrize(
    ("value", "parts"),
    [
        (0, (0, 0.0)),
        (1048576, (1048576, 0.0)),
        ("512MB", (512_000_000, 0.0)),
        ("1GiB", (2**30, 0.0)),
        ("1.5 kb", (1500, 0.0)),
        ("5%", (0, 5.0)),
        ("0.5%", (0, 0.5)),
        ("100", (100, 0.0)),
    ],
)
def test_min_free_values(value: object, parts: tuple[int, float]):
    assert size_or_percent(value) == parts


@pytest.mark.parametrize("value", ["lots", "5 parsecs", "100%", "-1%", -5, True, 1.5, "MB"])
def test_min_free_refuses_nonsense(value: object):
    with pytest.raises(ValueError):
        size_or_percent(value)


def test_config_error_names_the_key(tmp_path: Path):
    from sealpost.config.errors import ConfigError
    from sealpost.config.loader import load_config

    path = tmp_path / "sealpost.toml"
    path.write_text('[server]\nhostname = "mx.example.test"\n[store]\nmin_free = "lots"\n')
    with pytest.raises(ConfigError, match=r"store\.min_free"):
        load_config(path)


def test_threshold_in_bytes_or_percent():
    assert MinFree(bytes=5000).threshold(10**9) == 5000
    assert MinFree(percent=5).threshold(10**6) == 50_000
    assert MinFree().threshold(10**6) == 0


def test_watch_says_low_under_the_limit_and_logs_each_change_once(tmp_path, caplog):
    space = measure(tmp_path)
    watch = SpaceWatch(tmp_path, MinFree(bytes=space.free * 2))
    with caplog.at_level(logging.WARNING, logger="sealpost"):
        assert watch.check() is True
        assert watch.check() is True
        watch.min_free = MinFree(bytes=0)
        assert watch.check() is False
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert "452 4.3.1" in lines[0] and str(tmp_path) in lines[0]
    assert "accepting new mail again" in lines[1]
    assert watch.free_bytes is not None and watch.free_bytes > 0


def test_watch_of_a_queue_directory_not_made_yet_measures_its_parent(tmp_path):
    watch = SpaceWatch(tmp_path / "var" / "deeper", MinFree(bytes=1))
    assert watch.check() is False
    assert watch.free_bytes is not None and watch.free_bytes > 0


def test_no_local_file_is_never_low():
    watch = SpaceWatch.none()
    assert watch.check() is False
    assert list(FreeSpaceGauges(watch).collect()) == []


def test_gauges_show_the_last_measure(tmp_path):
    watch = SpaceWatch(tmp_path, MinFree(bytes=12345))
    watch.check()
    samples = {m.name: m.samples[0].value for m in FreeSpaceGauges(watch).collect()}
    assert samples["sealpost_store_free_bytes"] == watch.free_bytes
    assert samples["sealpost_store_min_free_bytes"] == 12345


def test_mail_gets_452_431_while_storage_is_low_and_250_after():
    low = [True]
    d = ready(storage_low=lambda: low[0])
    reply = d.cmd("MAIL FROM:<a@sender.test>")
    assert (reply.code, reply.enhanced) == (452, "4.3.1"), reply
    assert "Insufficient system storage" in str(reply.text)
    low[0] = False
    assert d.code("MAIL FROM:<a@sender.test>") == 250


@pytest.mark.parametrize("command", ["check", "salvage", "backup", "restore"])
def test_store_file_commands_refuse_postgresql_with_its_tools(tmp_path, command):
    import typer
    from click.testing import CliRunner

    from sealpost.cli import app

    config = tmp_path / "sealpost.toml"
    config.write_text(
        '[server]\nhostname = "mx.example.test"\n'
        '[store]\nurl = "postgresql://postgres@127.0.0.1:5432/sealpost"\n'
    )
    args = ["store", command, *(["x.db"] if command != "check" else []), "-c", str(config)]
    result = CliRunner().invoke(typer.main.get_command(app), args, env={"COLUMNS": "300"})
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert "PostgreSQL" in text and "pg_dump" in text and "pg_basebackup" in text, text
