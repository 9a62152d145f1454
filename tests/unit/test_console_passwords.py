"""How the console checks a password (``console/users.py``): on a thread of its own, never
on the event loop that also serves SMTP; an unknown name against the dummy hash; and no hash
computed when a ``sealpost`` command merely imports the module."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading

import pytest
from argon2.exceptions import VerifyMismatchError

from sealpost.console import users
from sealpost.console.users import ConsoleUser, verify_user
from sealpost.model.grants import Grant


class RecordingHasher:
    """Stands in for argon2's hasher: which hash was checked, on which thread."""

    def __init__(self, good: str) -> None:
        self.good = good
        self.calls: list[tuple[str, str]] = []  # (hash checked, thread name)

    def verify(self, password_hash: str, password: str) -> bool:
        self.calls.append((password_hash, threading.current_thread().name))
        if password != self.good:
            raise VerifyMismatchError("mismatch")
        return True

    def check_needs_rehash(self, password_hash: str) -> bool:
        return False


@pytest.fixture
def hasher(monkeypatch: pytest.MonkeyPatch) -> RecordingHasher:
    fake = RecordingHasher("right password")
    monkeypatch.setattr(users, "_HASHER", fake)
    return fake


@pytest.fixture
def ann(monkeypatch: pytest.MonkeyPatch) -> ConsoleUser:
    user = ConsoleUser("ann", "$argon2id$ann's hash", frozenset({Grant.CONSOLE_ACCESS}), 0.0)

    async def find_user(store: object, name: str) -> ConsoleUser | None:
        return user if name == "ann" else None

    monkeypatch.setattr(users, "find_user", find_user)
    return user


def test_the_check_runs_off_the_event_loop_thread(hasher: RecordingHasher, ann: ConsoleUser):
    async def scenario() -> tuple[ConsoleUser | None, ConsoleUser | None, str]:
        right = await verify_user(None, "ann", "right password")  # type: ignore[arg-type]
        wrong = await verify_user(None, "ann", "wrong password")  # type: ignore[arg-type]
        return right, wrong, threading.current_thread().name

    right, wrong, loop_thread = asyncio.run(scenario())
    assert right == ann and wrong is None
    assert [h for h, _ in hasher.calls] == [ann.password_hash] * 2
    assert all(
        name != loop_thread and name.startswith("sealpost-password") for _, name in hasher.calls
    )


def test_an_unknown_name_is_checked_against_the_dummy_hash_and_refused(
    hasher: RecordingHasher, ann: ConsoleUser
):
    # Even the dummy's "password" does not log anyone in: there is no user to return.
    found = asyncio.run(verify_user(None, "nobody", "right password"))  # type: ignore[arg-type]
    assert found is None
    assert [h for h, _ in hasher.calls] == [users._DUMMY_HASH]


def test_the_dummy_hash_has_the_library_s_current_parameters():
    # If argon2-cffi's defaults change, _dummy_hash() computes a new one (once) at the first
    # unknown name; update the constant so that one is not slower than the others.
    assert not users.PasswordHasher().check_needs_rehash(users._DUMMY_HASH)


def test_importing_the_module_computes_no_hash():
    code = (
        "import argon2\n"
        "def refuse(*args, **kwargs):\n"
        "    raise SystemExit('a hash was computed at import')\n"
        "argon2.PasswordHasher.hash = refuse\n"
        "import sealpost.cli, sealpost.runner\n"
        "import threading; assert threading.active_count() == 1, threading.enumerate()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
