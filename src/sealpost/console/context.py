"""What the console's pages use: the API's context (store, config, clock, the services the
API reaches) plus the console's own parts (sessions, the log-in budget)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sealpost.api.context import ApiContext
from sealpost.api.rate_limit import Budget
from sealpost.config.console import ConsoleSection
from sealpost.console.sessions import Sessions


@dataclass
class ConsoleContext:
    api: ApiContext
    sessions: Sessions = field(init=False)
    logins: Budget = field(init=False)  # per client IP, [console] login_per_minute

    def __post_init__(self) -> None:
        cfg = self.config
        self.sessions = Sessions(self.api.store, cfg.idle_timeout_minutes * 60, self.api.clock)
        self.logins = self.api.budgets("console-login", cfg.login_per_minute, 60.0)

    @property
    def config(self) -> ConsoleSection:
        return self.api.config.console
