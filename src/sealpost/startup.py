"""What a server does with its config before it serves, outside the wiring of ``app.py``.

``prepare(config)`` is what the supervisor runs once before it forks (``runner``):
migrations, the key-encryption key made when it should be, and the config's DKIM keys
checked. ``space_watch`` is the ``[store] min_free`` watch of the queue's disk;
``warn_loose_modes`` logs the data directory's and queue files' modes that let others read
them; ``retention_settings`` is ``[retention]`` as the purger's settings, at start and on a
reload alike.
"""

from __future__ import annotations

import logging

from sealpost.config.model import Config
from sealpost.dkim.keys import load_key
from sealpost.domains.stored_keys import ensure_keyring
from sealpost.node_presence import NodePresence
from sealpost.outbound import build_resolver, check_dnssec
from sealpost.retention.purger import RetentionSettings
from sealpost.store import open_store
from sealpost.store.errors import StoreError
from sealpost.store.file_modes import loose_modes, queue_files
from sealpost.store.free_space import MinFree, SpaceWatch, open_when_room

log = logging.getLogger("sealpost")


def space_watch(config: Config, *, quiet: bool = False) -> SpaceWatch:
    """The free-space watch of the queue's directory; none for PostgreSQL and memory."""
    database = config.store.sqlite_path
    if database is None:
        return SpaceWatch.none()
    size, percent = config.store.min_free_parts
    return SpaceWatch(database.parent, MinFree(size, percent), quiet=quiet)


def retention_settings(config: Config) -> RetentionSettings:
    """``[retention]`` as the purger's settings (the same names)."""
    return RetentionSettings(**config.retention.model_dump())


def warn_loose_modes(config: Config) -> None:
    """One warning for each of the data directory and queue files others may read."""
    database = config.store.sqlite_path
    paths = [config.server.data_dir, *(queue_files(database) if database else ())]
    for loose in loose_modes(dict.fromkeys(paths)):
        log.warning("%s", loose.advice())


async def prepare(config: Config) -> None:
    """Before the workers fork: migrate the store (so they never race to), load the
    config's DKIM keys (a bad key file is reported once, before anything starts), make or
    read the sending domains' key-encryption key (``domains.stored_keys``), check
    that a ``dnssec = true`` resolver validates (``outbound.check_dnssec``) and that no
    running node holds this node's id (``node_presence``), then release the node's queue
    leases, every worker's."""
    for key in config.dkim.keys:
        load_key(key.domain, key.selector, key.key_file)
    await check_dnssec(config, build_resolver(config))
    store = open_store(
        config.store.url, base_dir=config.base_dir, node_id=config.cluster.node, quick_check=True
    )
    space = space_watch(config, quiet=True)  # the primary worker says it, once
    space.check()
    await open_when_room(store, space)
    try:
        await ensure_keyring(
            config.dkim_secret_file, store, config.dkim.previous_key_encryption_key_files
        )
        # a node id in use: one clean error before the fork (the primary claims it for good)
        presence = NodePresence(store, config.cluster.node)
        await presence.claim()
        await presence.release()
        # No worker runs yet: every lease of this node is its previous run's (each worker
        # releases only its own seat's when it starts, so a restarted one spares the others).
        try:
            recovered = await store.release_all_leases()
        except StoreError as exc:  # a full disk: those messages are due when the leases end
            log.warning("the leases of the previous run were not released (%s)", exc)
            recovered = 0
        if recovered:
            log.info("%d message(s) were in delivery when the server stopped; due again", recovered)
    finally:
        await store.close()
