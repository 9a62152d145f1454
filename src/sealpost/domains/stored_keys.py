"""What a node does at start about the sending domains' stored DKIM keys: make or read the
cluster's key-encryption key (``dkim.sealing``), and move into the store the key files that
earlier versions wrote.

``ensure_secret``: a missing ``[dkim] key_encryption_key_file`` is created (0600) when the
store holds no sealed key yet, the first start of a new server or cluster. When the store
does hold keys, the node refuses to start (``SealingError`` naming the option): a fresh key
would open none of them, and the file must be copied from a node that has it. It refuses
too when the store holds keys and none was sealed with this node's key (another node's
file, or a new one): that node could sign for none of the domains. Keys sealed with
another key beside keys sealed with this one are left to the signer, which logs each.

``import_key_files``: before keys lived in the store, the sending-domains API wrote each
private key to ``<data_dir>/dkim/<domain>/<selector>.key`` and the record named that file.
At start each such key that the store does not hold yet is read, checked against the
record's public key, sealed and stored. It is idempotent (a key already stored is skipped)
and safe on several nodes at once (they store the same key). Records are not rewritten and
the files are left where they are: a node of the earlier version still running during an
upgrade keeps reading them; once every node runs this version the files are no longer read
and may be deleted. A file this node cannot read (another node's ``data_dir``) is skipped
with a warning: the node that has it imports it at its next start, and until then signs with
it from the file. ``[[dkim.keys]]`` of the config stay files, as the operator gave them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from sealpost.dkim.keys import DkimKeyError, dns_txt_value, load_key
from sealpost.dkim.sealing import (
    OPTION,
    KeySecret,
    SealingError,
    create_secret,
    load_secret,
    seal,
    sealed_with,
)
from sealpost.domains.records import KIND, SendingDomain
from sealpost.domains.signers import KeySource
from sealpost.store.contracts.dkim_keys import DkimKeyStore

log = logging.getLogger("sealpost.domains")


async def ensure_secret(path: Path, store: DkimKeyStore) -> KeySecret:
    """The key-encryption key in ``path``, made there first when the store holds no key."""
    stored = await store.dkim_keys()
    if not path.exists():
        if stored:
            raise SealingError(
                f"{OPTION} {path} does not exist, but the store holds sealed DKIM keys of "
                "sending domains: copy that file from another node of the cluster (or "
                "restore it from where you keep it); a new key would open none of them"
            )
        if await asyncio.to_thread(create_secret, path):
            log.info("created the DKIM key-encryption key %s (%s)", path, OPTION)
    secret = await asyncio.to_thread(load_secret, path)
    ids = {sealed_with(blob) for blob in stored.values()}
    if ids and secret.key_id not in ids:
        named = ", ".join(sorted(i or "(not sealed)" for i in ids))
        raise SealingError(
            f"the store's {len(stored)} sealed DKIM key(s) of sending domains were sealed with "
            f"key-encryption key {named}, but this node's {OPTION} ({path}) is key "
            f"{secret.key_id}: every node of a cluster needs the same file; copy it from "
            "another node"
        )
    log.info("sending domains' DKIM keys are sealed with key %s (%s)", secret.key_id, OPTION)
    return secret


async def import_key_files(
    store: KeySource, secret: KeySecret, clock: Callable[[], float]
) -> list[str]:
    """Seal and store the key files of earlier versions' records; the domains imported."""
    stored = await store.dkim_keys()
    imported: list[str] = []
    for document in await store.list_documents(KIND):
        try:
            record = SendingDomain.from_payload(document.payload)
        except (KeyError, TypeError, ValueError):
            continue  # SigningKeys reports unreadable records
        key = record.key
        if key is None or not key.key_file or (key.signing_domain, key.selector) in stored:
            continue
        try:
            loaded = await asyncio.to_thread(
                load_key, key.signing_domain, key.selector, Path(key.key_file)
            )
            public = dns_txt_value(loaded.private_key_pem).rpartition("p=")[2]
        except DkimKeyError as exc:
            log.warning(
                "sending domain %s: key file not imported into the store (%s)", record.domain, exc
            )
            continue
        if public != key.public:
            log.warning(
                "sending domain %s: key file %s does not hold the record's key; not imported",
                record.domain,
                key.key_file,
            )
            continue
        sealed = seal(secret, key.signing_domain, key.selector, loaded.private_key_pem)
        await store.put_dkim_key(key.signing_domain, key.selector, sealed, clock())
        log.info(
            "sending domain %s: DKIM key imported from %s into the store (sealed); once every "
            "node runs this version the file is no longer read",
            record.domain,
            key.key_file,
        )
        imported.append(record.domain)
    return imported
