"""The master key and the per-principal data keys it wraps (encryption at rest).

The master key (32 bytes) comes from ``SKILLEXEC_MASTER_KEY`` (base64 or hex) or a key file
readable by its owner only. It never encrypts data: it wraps one random data key per
principal with AES-256-GCM, the wrapping bound to the principal and the key's id. The
wrapped keys live in ``keyring.json`` beside the journal, never in it, so that destroying a
principal's key there makes every copy of its rows unreadable, backups of the journal
included. A key check value (an HMAC of a fixed label under the master key) tells a wrong
master key from a right one at start, before any row is read: a wrong key is one sentence,
never garbage.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import stat
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from skillexec.errors import ConfigError

__all__ = ["MASTER_KEY_ENV", "DataKey", "Keyring", "load_master_key", "parse_key"]

MASTER_KEY_ENV = "SKILLEXEC_MASTER_KEY"
_KCV_LABEL = b"skillexec key check value v1"
_FORMAT = 1
SYSTEM = "\x00system"  # the key of rows that belong to no principal (engine events)


def parse_key(text: str, *, source: str) -> bytes:
    """32 bytes from base64 (standard or URL-safe) or hex text; else a sentence naming
    ``source``."""
    text = text.strip()
    candidates: list[bytes] = []
    if len(text) == 64:
        try:
            candidates.append(bytes.fromhex(text))
        except ValueError:
            pass
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            candidates.append(decode(text + "=" * (-len(text) % 4)))
        except (binascii.Error, ValueError):
            pass
    for key in candidates:
        if len(key) == 32:
            return key
    raise ConfigError(f"{source} is not a 32-byte key in base64 or hex", code="bad_master_key")


def load_master_key(*, key_file: Path | None,
                    environ: Mapping[str, str] | None = None) -> bytes:
    """The master key: from the key file when one is set, else from the environment."""
    env = os.environ if environ is None else environ
    if key_file is not None:
        return _read_key_file(key_file)
    text = env.get(MASTER_KEY_ENV)
    if not text:
        raise ConfigError(
            f"encryption is on but no master key was given: set {MASTER_KEY_ENV} or "
            "[security] master_key_file", code="master_key_missing")
    return parse_key(text, source=MASTER_KEY_ENV)


def _read_key_file(path: Path) -> bytes:
    try:
        # O_NOFOLLOW: a symlink planted in place of the key file is refused, not followed
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise ConfigError(f"cannot read the master key file {path}: {exc.strerror}",
                          code="master_key_missing") from None
    try:
        mode = os.fstat(fd).st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                f"the master key file {path} is readable by group or others (mode "
                f"{stat.S_IMODE(mode):o}); chmod 600 it", code="master_key_exposed")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            raw = fh.read(4096)
    finally:
        os.close(fd)
    if len(raw) == 32:  # raw bytes
        return raw
    return parse_key(raw.decode("ascii", "replace"), source=f"the master key file {path}")


def key_check_value(master: bytes) -> str:
    return hmac.new(master, _KCV_LABEL, hashlib.sha256).hexdigest()[:32]


class DataKey:
    """One principal's data key, unwrapped: its id (in every ciphertext's header and
    associated data) and a cached AESGCM (building one costs microseconds)."""

    __slots__ = ("aead", "header", "key", "key_id", "kid", "mac_key")

    def __init__(self, key_id: int, key: bytes) -> None:
        self.key_id = key_id
        self.kid = key_id.to_bytes(4, "big")
        self.header = b"\x01" + self.kid  # a sealed field's version byte and key id
        self.key = key
        self.aead = AESGCM(key)
        # a separate key for content addresses: never the encryption key itself
        self.mac_key = hmac.new(key, b"skillexec artifact address v1", hashlib.sha256).digest()


class Keyring:
    """The wrapped data keys of one data directory (``keyring.json``, mode 0600)."""

    def __init__(self, path: Path, master: bytes) -> None:
        self.path = path
        self._master = AESGCM(master)
        self._kcv = key_check_value(master)
        self._lock = threading.Lock()
        self._wrapped: dict[str, dict[str, Any]] = {}
        # when encryption began here: every task made since has its payloads sealed
        self.created_at = time.time()
        self._keys: dict[str, DataKey] = {}
        self._by_id: dict[tuple[str, int], DataKey] = {}

    @classmethod
    def open(cls, path: Path, master: bytes) -> Keyring:
        """Load (or create) the keyring; a master key that is not this keyring's is a
        ConfigError saying so."""
        ring = cls(path, master)
        doc = _read(path)
        if doc is None:
            ring._save()
            return ring
        if doc.get("kcv") != ring._kcv:
            raise ConfigError(
                f"the master key does not match the one {path} was made with: give the "
                "right key (the data cannot be read with this one)", code="master_key_wrong")
        ring._wrapped = dict(doc.get("keys") or {})
        ring.created_at = float(doc.get("created_at") or 0.0)
        return ring

    @staticmethod
    def exists(path: Path) -> bool:
        return path.exists()

    def key_for(self, principal: str | None) -> DataKey:
        """The principal's current data key (made on first use)."""
        name = principal if principal is not None else SYSTEM
        key = self._keys.get(name)
        if key is not None:
            return key
        with self._lock:
            key = self._keys.get(name)
            if key is None:
                entry = self._wrapped.get(name)
                if entry is None:
                    key = DataKey(secrets.randbits(32), secrets.token_bytes(32))
                    self._wrapped[name] = self._wrap(name, key)
                    self._save()
                else:
                    key = self._unwrap(name, entry)
                self._keys[name] = key
                self._by_id[(name, key.key_id)] = key
        return key

    def key_by_id(self, principal: str | None, key_id: int) -> DataKey | None:
        """The principal's key with this id, or None (destroyed, or never made)."""
        name = principal if principal is not None else SYSTEM
        key = self._by_id.get((name, key_id))
        if key is not None:
            return key
        if name not in self._wrapped:
            return None
        key = self.key_for(principal)
        return key if key.key_id == key_id else None

    def has_key(self, principal: str | None) -> bool:
        return (principal if principal is not None else SYSTEM) in self._wrapped

    def destroy(self, principal: str | None) -> bool:
        """Forget the principal's data key for good: its ciphertexts become unreadable."""
        name = principal if principal is not None else SYSTEM
        with self._lock:
            found = self._wrapped.pop(name, None) is not None
            key = self._keys.pop(name, None)
            if key is not None:
                self._by_id.pop((name, key.key_id), None)
            if found:
                self._save()
        return found

    def rotate_master(self, new_master: bytes) -> int:
        """Re-wrap every data key under ``new_master``; the data is not touched. Returns
        the number of keys re-wrapped."""
        with self._lock:
            keys = {name: self._unwrap(name, entry) for name, entry in self._wrapped.items()}
            self._master = AESGCM(new_master)
            self._kcv = key_check_value(new_master)
            self._wrapped = {name: self._wrap(name, key) for name, key in keys.items()}
            self._save()
        return len(keys)

    # -- wrapping ---------------------------------------------------------------------------

    @staticmethod
    def _wrap_ad(name: str, key_id: int) -> bytes:
        return b"skillexec dek v1\x00" + name.encode() + b"\x00" + key_id.to_bytes(4, "big")

    def _wrap(self, name: str, key: DataKey) -> dict[str, Any]:
        nonce = os.urandom(12)
        sealed = self._master.encrypt(nonce, key.key, self._wrap_ad(name, key.key_id))
        return {"id": key.key_id, "wrapped": base64.b64encode(nonce + sealed).decode()}

    def _unwrap(self, name: str, entry: Mapping[str, Any]) -> DataKey:
        key_id = int(entry["id"])
        blob = base64.b64decode(entry["wrapped"])
        try:
            raw = self._master.decrypt(blob[:12], blob[12:], self._wrap_ad(name, key_id))
        except InvalidTag:
            raise ConfigError(f"a data key in {self.path} cannot be unwrapped: the keyring "
                              "was altered", code="keyring_corrupt") from None
        return DataKey(key_id, raw)

    def _save(self) -> None:
        doc = {"format": _FORMAT, "kcv": self._kcv, "keys": self._wrapped,
               "created_at": self.created_at}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".keyring-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(doc, fh, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _read(path: Path) -> dict[str, Any] | None:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        doc = None
    if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
        raise ConfigError(f"{path} is not a skillexec keyring", code="keyring_corrupt")
    return doc
