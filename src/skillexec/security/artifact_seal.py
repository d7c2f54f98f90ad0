"""Artifact files sealed in chunks (encryption at rest), so a large one streams both ways.

File: ``SXA1 ‖ key id (4) ‖ owner length (2) ‖ owner (UTF-8)``, then chunks of 64 KiB of
plaintext, each ``nonce (12) ‖ ciphertext ‖ tag (16)`` under the owner's data key. Each
chunk's associated data holds the artifact's address, the owner, the chunk's index and
whether it is the last one: a chunk moved, dropped, duplicated or taken from another file
fails to open, and a file cut at a chunk boundary lacks its last chunk, which is an error
too (the STREAM construction, as in age).

The address of a sealed file is an HMAC of its bytes under a key derived from the owner's
data key: the same bytes saved twice by one principal are stored once, but a plaintext hash
(which anyone holding the file could confirm) never appears, and principals never share a
file, so destroying one's key destroys its files' readability alone.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterator
from typing import BinaryIO

from cryptography.exceptions import InvalidTag

from skillexec.errors import ResourceError
from skillexec.security.keyring import DataKey, Keyring

__all__ = ["CHUNK_BYTES", "address", "open_chunks", "seal_to"]

CHUNK_BYTES = 64 << 10
_MAGIC = b"SXA1"
_TAG = 16
_NONCE = 12


def address(key: DataKey, data: bytes) -> str:
    """The keyed content address (64 hex characters) of ``data`` for this key's owner."""
    return hmac.new(key.mac_key, data, "sha256").hexdigest()


def _ad(digest: str, owner: bytes, index: int, last: bool) -> bytes:
    return (b"skillexec artifact v1\x00" + digest.encode() + b"\x00" + owner + b"\x00"
            + index.to_bytes(8, "big") + (b"\x01" if last else b"\x00"))


def seal_to(fh: BinaryIO, data: bytes, *, key: DataKey, owner: str | None,
            digest: str) -> None:
    """Write ``data`` sealed to ``fh``, chunk by chunk."""
    name = b"" if owner is None else owner.encode()
    flag = b"\x00" if owner is None else b"\x01"  # None and "" are different owners
    fh.write(_MAGIC + key.key_id.to_bytes(4, "big") + (len(name) + 1).to_bytes(2, "big")
             + flag + name)
    n = max(1, -(-len(data) // CHUNK_BYTES))
    view = memoryview(data)
    for i in range(n):
        nonce = os.urandom(_NONCE)
        chunk = bytes(view[i * CHUNK_BYTES:(i + 1) * CHUNK_BYTES])
        fh.write(nonce + key.aead.encrypt(nonce, chunk, _ad(digest, flag + name, i, i == n - 1)))


def open_chunks(fh: BinaryIO, *, keyring: Keyring, digest: str) -> Iterator[bytes]:
    """The plaintext chunks of a sealed file, checked one by one as they are read."""
    head = fh.read(10)
    if len(head) < 10 or head[:4] != _MAGIC:
        raise _broken(digest, "not a sealed artifact")
    key_id = int.from_bytes(head[4:8], "big")
    owner_raw = fh.read(int.from_bytes(head[8:10], "big"))
    if not owner_raw:
        raise _broken(digest, "its header is cut")
    owner = owner_raw[1:].decode() if owner_raw[:1] == b"\x01" else None
    key = keyring.key_by_id(owner, key_id)
    if key is None:
        raise ResourceError(f"artifact {digest[:12]}: its data key was destroyed (purged)",
                            code="data_key_destroyed")
    size = _NONCE + CHUNK_BYTES + _TAG
    block = fh.read(size)
    index = 0
    while True:
        following = fh.read(size)
        last = not following
        if len(block) < _NONCE + _TAG:
            raise _broken(digest, "a chunk is cut")
        try:
            yield key.aead.decrypt(block[:_NONCE], block[_NONCE:],
                                   _ad(digest, owner_raw, index, last))
        except InvalidTag:
            raise _broken(digest, f"chunk {index} fails its integrity check (altered, "
                          "moved or the file cut)") from None
        if last:
            return
        block, index = following, index + 1


def _broken(digest: str, why: str) -> ResourceError:
    return ResourceError(f"artifact {digest[:12]}: {why}", code="decrypt_failed")
