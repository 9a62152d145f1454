"""``sealpost tls-check``: what a destination's mail TLS really proves (issue 5).

Probes (``smtp_probe``), the domain's published policy (``domain_policy``), certificate
facts and DANE matching (``certificate``), verdicts (``verdict``), the report and its JSON
(``report``) and the run itself (``check``). No CLI or HTTP code here: ``cli/tlscheck.py``
and ``api/tls_v1.py`` present the same ``CheckReport``.
"""

from __future__ import annotations

from sealpost.tlscheck.check import CheckOptions, ParsedTarget, parse_target, run_check
from sealpost.tlscheck.report import SCHEMA, CheckReport, ExitCode, Grade, HostReport, Verdict

__all__ = [
    "SCHEMA",
    "CheckOptions",
    "CheckReport",
    "ExitCode",
    "Grade",
    "HostReport",
    "ParsedTarget",
    "Verdict",
    "parse_target",
    "run_check",
]
