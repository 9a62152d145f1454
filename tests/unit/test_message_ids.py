"""Message ids: time-sortable, unique, and never repeated across a fork (worker processes)."""

from __future__ import annotations

import os

from sealpost.model.ids import new_message_id


def test_ids_are_unique_and_sort_by_time() -> None:
    ids = [new_message_id(1_700_000_000.0 + i / 1000) for i in range(5000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert all(len(i) == 20 for i in ids)


def test_ids_use_all_52_random_bits() -> None:
    tails = {new_message_id(0.0) for _ in range(2000)}
    assert len(tails) == 2000  # same millisecond: only the random part differs


def test_a_forked_child_does_not_repeat_the_parents_bits() -> None:
    new_message_id(0.0)  # fill the parent's buffer before the fork
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report its next ids, then leave without running pytest's atexit
        os.close(read)
        os.write(write, ",".join(new_message_id(0.0) for _ in range(50)).encode())
        os._exit(0)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 65536):
        chunks.append(chunk)
    os.close(read)
    os.waitpid(pid, 0)
    child = set(b"".join(chunks).decode().split(","))
    parent = {new_message_id(0.0) for _ in range(50)}
    assert len(child) == 50
    assert not child & parent
