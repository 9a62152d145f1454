"""What every API endpoint may use, handed in by the composition root."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sealpost.config.model import Config
from sealpost.dns.resolver import Resolver
from sealpost.model.egress import TargetGuard
from sealpost.store.base import Store
from sealpost.submission.door import Submission


@dataclass
class ApiContext:
    config: Config
    store: Store
    submission: Submission
    resolver: Resolver | None = None
    egress: TargetGuard | None = None  # the rule for every connection a caller can aim
    clock: Callable[[], float] = time.time
    services: dict[str, Any] = field(default_factory=dict)  # e.g. the webhook notifier
