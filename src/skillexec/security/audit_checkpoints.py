"""Signed checkpoints of the audit chain's head, kept in a file outside the journal.

Each line of ``<data_dir>/audit/checkpoints.jsonl`` is ``{seq, digest, ts, key, sig}``: the
head's seq and digest, signed with Ed25519 (over the canonical JSON of ``{digest, seq, ts}``).
A journal cut behind a checkpoint, rewritten, or replaced by an older copy no longer
reaches that line's seq and digest. The signing key, 32 raw bytes in
``<data_dir>/audit/signing.key``, is created on first use with mode 0600 and refused if
anyone but its owner may read it. A data directory used with another journal too
(``journal.url``) keeps that journal's checkpoints apart, in
``checkpoints-<16 hex of the journal's name>.jsonl``: each chain has its own heads.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from skillexec.errors import ConfigError
from skillexec.security.audit_chain import canonical

__all__ = ["Checkpoint", "CheckpointFile"]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    line: int  # in the file, from 1
    seq: int
    digest: str  # hex
    ts_us: int
    valid: bool  # signed by this data directory's key


class CheckpointFile:
    def __init__(self, directory: Path, *, journal: str | None = None) -> None:
        """``journal``: which journal's chain (its name without a password); None for the
        data directory's own file."""
        self.directory = directory
        self.path = directory / ("checkpoints.jsonl" if journal is None else
                                 "checkpoints-"
                                 f"{hashlib.sha256(journal.encode()).hexdigest()[:16]}.jsonl")
        self.key_path = directory / "signing.key"
        self._key: Ed25519PrivateKey | None = None
        self._public: str | None = None  # the key's public half in hex (derived once)

    def _signing_key(self, *, create: bool) -> Ed25519PrivateKey | None:
        if self._key is not None:
            return self._key
        try:
            fd = os.open(self.key_path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            if not create:
                return None
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            seed = os.urandom(32)
            fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                         0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(seed)
            self._key = Ed25519PrivateKey.from_private_bytes(seed)
            return self._key
        with os.fdopen(fd, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise ConfigError(f"the audit signing key {self.key_path} may be read by "
                                  f"others (mode {stat.S_IMODE(mode):o}): chmod 600 it",
                                  code="audit_key_exposed")
            seed = f.read()
        if len(seed) != 32:
            raise ConfigError(f"the audit signing key {self.key_path} is not 32 bytes",
                              code="audit_key_invalid")
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        return self._key

    def write(self, seq: int, digest: bytes) -> None:
        """Sign and append the head ``(seq, digest)``."""
        key = self._signing_key(create=True)
        assert key is not None
        if self._public is None:  # deriving it costs a scalar multiplication: once
            self._public = _public_hex(key.public_key())
        signed = {"seq": seq, "digest": digest.hex(), "ts": int(time.time() * 1e6)}
        line = {**signed, "key": self._public, "sig": key.sign(canonical(signed)).hex()}
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "ab") as f:
            f.write(orjson.dumps(line) + b"\n")
            f.flush()
            os.fsync(f.fileno())

    def read(self) -> Iterator[Checkpoint]:
        """Every checkpoint in the file, each checked against this directory's key (one
        whose line cannot be read or whose signature fails is ``valid=False``)."""
        if not self.path.exists():
            return
        key = self._signing_key(create=False)
        public = key.public_key() if key is not None else None
        with self.path.open("rb") as f:
            for n, raw in enumerate(f, 1):
                yield _checked(n, raw, public)


def _public_hex(key: Ed25519PublicKey) -> str:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def _checked(n: int, raw: bytes, public: Ed25519PublicKey | None) -> Checkpoint:
    try:
        d = orjson.loads(raw)
        seq, digest, ts = int(d["seq"]), str(d["digest"]), int(d["ts"])
        sig = bytes.fromhex(str(d["sig"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return Checkpoint(n, -1, "", 0, False)
    ok = False
    if public is not None and d.get("key") == _public_hex(public):
        try:
            public.verify(sig, canonical({"seq": seq, "digest": digest, "ts": ts}))
            ok = True
        except InvalidSignature:
            ok = False
    return Checkpoint(n, seq, digest, ts, ok)
