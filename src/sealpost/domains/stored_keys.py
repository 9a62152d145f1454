"""What a node does at start about the sending domains' stored DKIM keys: make or read the
cluster's key-encryption keys (``dkim.keyring``), and move into the store the key files that
earlier versions wrote.

``ensure_keyring``: a missing ``[dkim] key_encryption_key_file`` is created (0600) when the
store holds no sealed key yet, the first start of a new server or cluster. When the store
does hold keys, the node refuses to start (``SealingError`` naming the option): a fresh key
would open none of them, and the file must be copied from a node that has it. The files of
``[dkim] previous_key_encryption_key_files`` are read too (one that cannot be read refuses
the start, naming that option and the file). The node refuses as well when a stored key
was sealed with a key in none of these files (another node's file, or a rotation that
dropped a previous key too early): naming the option, the files and the key ids, since it
could not sign for that domain. Keys still sealed with a previous key are counted in one
INFO line pointing at ``sealpost dkim reseal``.

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
from collections.abc import Callable, Sequence
from pathlib import Path

from sealpost.dkim.keyring import PREVIOUS_OPTION, Keyring, Role, load_keyring
from sealpost.dkim.keys import DkimKeyError, dns_txt_value, load_key
from sealpost.dkim.sealing import OPTION, SealingError, create_secret, sealed_with
from sealpost.domains.records import KIND, SendingDomain
from sealpost.domains.signers import KeySource
from sealpost.store.contracts.dkim_keys import DkimKeyStore

log = logging.getLogger("sealpost.domains")


async def ensure_keyring(path: Path, store: DkimKeyStore, previous: Sequence[Path] = ()) -> Keyring:
    """The keyring of the key-encryption key in ``path`` (made there first when the store
    holds no key) and the ``previous`` ones; SealingError when a stored key opens with none."""
    stored = await store.dkim_keys()
    if not path.exists():
        if stored:
            raise SealingError(
                f"{OPTION} {path} does not exist, but the store holds sealed DKIM keys of "
                "sending domains: copy that file from another node of the cluster (or "
                "restore it from where you keep it); a new key would open none of them. "
                "To rotate the key, make the new file once (`openssl rand -base64 32`), copy "
                f"it to every node and list the old one in {PREVIOUS_OPTION}"
            )
        if await asyncio.to_thread(create_secret, path):
            log.info("created the DKIM key-encryption key %s (%s)", path, OPTION)
    ring = await asyncio.to_thread(load_keyring, path, previous)
    unknown = ring.unopened(stored.values())
    if unknown:
        named = ", ".join(f"{i or '(not sealed)'} ({n} key(s))" for i, n in unknown.items())
        raise SealingError(
            f"{sum(unknown.values())} of the store's {len(stored)} sealed DKIM key(s) of "
            f"sending domains were sealed with key-encryption key {named}, which is in none "
            f"of this node's key files: {ring.describe()}. Every node of a cluster needs the "
            f"same files: copy the file of that key from another node and name it in {OPTION} "
            f"(or, while rotating, in {PREVIOUS_OPTION})"
        )
    log.info("sending domains' DKIM keys are sealed with key %s (%s)", ring.key_id, OPTION)
    waiting = sum(ring.role(sealed_with(blob)) is Role.PREVIOUS for blob in stored.values())
    if waiting:
        log.info(
            "%d stored DKIM key(s) are still sealed with a previous key-encryption key (%s): "
            "`sealpost dkim reseal` seals them with the current one",
            waiting,
            PREVIOUS_OPTION,
        )
    return ring


async def import_key_files(
    store: KeySource, keyring: Keyring, clock: Callable[[], float]
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
        sealed = keyring.seal(key.signing_domain, key.selector, loaded.private_key_pem)
        await store.put_dkim_key(key.signing_domain, key.selector, sealed, clock())
        log.info(
            "sending domain %s: DKIM key imported from %s into the store (sealed); once every "
            "node runs this version the file is no longer read",
            record.domain,
            key.key_file,
        )
        imported.append(record.domain)
    return imported
