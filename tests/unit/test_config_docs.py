"""docs/configuration.md is generated from the model; it must equal what the code renders."""

from __future__ import annotations

from pathlib import Path

from sealpost.config.reference import render_reference_markdown
from sealpost.config.schema import sections

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_committed_reference_matches_the_model() -> None:
    expected = render_reference_markdown()
    assert DOC.read_text(encoding="utf-8") == expected, (
        "docs/configuration.md is stale: run "
        "`python -m sealpost.config.reference > docs/configuration.md`"
    )


def test_reference_covers_every_key() -> None:
    text = render_reference_markdown()
    for table in sections():
        assert f"## `{table.header}`" in text
        for key in table.keys:
            assert key.description, f"{table.path}.{key.key} has no description"
            assert f"| `{key.key}` |" in text


def test_reference_lists_the_expected_tables() -> None:
    assert [t.header for t in sections()] == [
        "[server]",
        "[tls]",
        "[[tls.sni]]",
        "[[smtp.listeners]]",
        "[store]",
        "[cluster]",
        "[log]",
        "[dns]",
        "[delivery]",
        "[mta_sts]",
        "[dkim]",
        "[[dkim.keys]]",
        "[api]",
        "[tlsrpt]",
        "[tls_reports]",
        "[metrics]",
        "[retention]",
        "[console]",
    ]
