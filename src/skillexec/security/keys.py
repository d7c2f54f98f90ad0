"""API keys: made once, kept as a SHA-256 digest, checked in constant time (DESIGN §4.5).

A key reads ``sk_<key id>_<secret>``: the key id (12 hex characters) is public and names
the key in lists, logs and the audit; the secret is 32 random bytes (base64url). The journal
keeps only SHA-256 of the whole key: a stolen journal holds no usable key. Slow hashes buy
nothing for 256 random bits and would make authentication a denial-of-service amplifier.

Two valid keys at once per name allow rotation without downtime: make the new one, move the
client, revoke the old one. A third is refused until one is revoked or expires.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from skillexec.errors import ParameterError
from skillexec.security.principals import LOCAL, LOCAL_ID, Principal, Role
from skillexec.skills.model import Permission

__all__ = ["MAX_LIFETIME_S", "MAX_VALID_PER_NAME", "KeyInfo", "KeyManager", "KeyRecord",
           "KeyStore", "key_digest"]

MAX_VALID_PER_NAME = 2  # the old and the new key, while clients move over
MAX_LIFETIME_S = 10 * 365 * 86400  # a key's longest lifetime (expires_s)
_KEY = re.compile(r"sk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
_DUMMY = hashlib.sha256(b"no such key").digest()  # compared against when the id is unknown


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What may be shown of a key: never its secret."""

    key_id: str
    name: str
    role: Role
    skills: frozenset[str] | None
    permissions: frozenset[str] | None
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None
    used_at: float | None = None  # first use

    def valid(self, now: float) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    def principal(self) -> Principal:
        return Principal(self.name, self.role, self.skills, self.key_id, self.permissions)

    def to_dict(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "name": self.name, "role": self.role.value,
                "skills": None if self.skills is None else sorted(self.skills),
                "permissions": None if self.permissions is None else sorted(self.permissions),
                "created_at": self.created_at, "expires_at": self.expires_at,
                "revoked_at": self.revoked_at, "used_at": self.used_at}


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A key as the journal keeps it: its info and the SHA-256 of the key."""

    info: KeyInfo
    digest: bytes


class KeyStore(Protocol):
    """The journal's part that keeps keys (SQLite, memory, PostgreSQL stores)."""

    def key_put(self, record: KeyRecord) -> Awaitable[None]: ...

    async def key_get(self, key_id: str) -> KeyRecord | None: ...

    async def key_list(self) -> list[KeyRecord]: ...

    async def key_revoke(self, key_id: str, at: float) -> bool:
        """Mark a key revoked; False if there is no such key or it already was."""

    async def key_used(self, key_id: str, at: float) -> bool:
        """Note a key's first use; True only the first time."""


Record = Callable[..., Awaitable[None]]  # AuditLog.record


def key_digest(raw: str) -> bytes:
    return hashlib.sha256(raw.encode()).digest()


def _grants(values: Iterable[str] | None, what: str) -> frozenset[str] | None:
    if values is None:
        return None
    out = frozenset(v.strip() for v in values if v.strip())
    if not out:
        raise ParameterError(f"{what}: an empty list would grant nothing; leave it out to "
                             "grant every one", code="invalid_key")
    return out


class KeyManager:
    """``engine.keys``: create, list, revoke and authenticate API keys."""

    def __init__(self, store: KeyStore, *, audit: Record | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock

    async def create(self, *, name: str, role: Role | str, skills: Iterable[str] | None = None,
                     expires_s: float | None = None, permissions: Iterable[str] | None = None,
                     by: Principal = LOCAL) -> tuple[KeyInfo, str]:
        """A new key for principal ``name``: its info, and the key itself (shown once, kept
        nowhere)."""
        if not isinstance(name, str) or not _NAME.fullmatch(name) or name == LOCAL_ID:
            raise ParameterError(
                f"key name {name!r}: use 1-64 letters, digits, '_', '.', '@' or '-' "
                f"(not {LOCAL_ID!r}, the CLI's own principal)", code="invalid_key")
        try:
            role = Role(role)
        except ValueError:
            raise ParameterError(f"role {role!r} is not one of "
                                 f"{', '.join(r.value for r in Role)}",
                                 code="invalid_key") from None
        if expires_s is not None and not 0 < expires_s <= MAX_LIFETIME_S:
            raise ParameterError(f"expires_s must be over 0 and at most 10 years "
                                 f"({MAX_LIFETIME_S} s; got {expires_s})", code="invalid_key")
        grants = _grants(skills, "skills")
        ceiling = _grants(permissions, "permissions")
        if ceiling is not None:
            known = {p.value for p in Permission}
            if bad := sorted(ceiling - known):
                raise ParameterError(f"unknown permission(s) {', '.join(bad)}; known: "
                                     f"{', '.join(sorted(known))}", code="invalid_key")
        now = self._clock()
        live = [r for r in await self._store.key_list()
                if r.info.name == name and r.info.valid(now)]
        if len(live) >= MAX_VALID_PER_NAME:
            raise ParameterError(
                f"{name!r} already has {len(live)} valid keys "
                f"({', '.join(r.info.key_id for r in live)}): revoke one first",
                code="too_many_keys")
        key_id = secrets.token_hex(6)
        raw = f"sk_{key_id}_{secrets.token_urlsafe(32)}"
        info = KeyInfo(key_id, name, role, grants, ceiling, now,
                       None if expires_s is None else now + expires_s)
        await self._store.key_put(KeyRecord(info, key_digest(raw)))
        await self._record("key.created", by, key_id, "ok",
                           {"name": name, "role": role.value,
                            "skills": None if grants is None else sorted(grants),
                            "expires_at": info.expires_at})
        return info, raw

    async def list(self) -> list[KeyInfo]:
        return [r.info for r in await self._store.key_list()]

    async def revoke(self, key_id: str, *, by: Principal = LOCAL) -> bool:
        """Revoke a key (effective on its next use); False if no such key is valid."""
        done = await self._store.key_revoke(key_id, self._clock())
        await self._record("key.revoked", by, key_id, "ok" if done else "not_found", None)
        return done

    async def authenticate(self, raw: str) -> Principal | None:
        """The principal of a valid key, else None (and an ``auth.failed`` audit record).

        The same work is done whether the id is unknown or the secret wrong, and the two
        digests are compared with ``hmac.compare_digest``.
        """
        m = _KEY.fullmatch(raw) if isinstance(raw, str) else None
        if m is None:
            await self._failed(None, "malformed")
            return None
        key_id = m.group(1)
        record = await self._store.key_get(key_id)
        same = hmac.compare_digest(key_digest(raw),
                                   record.digest if record is not None else _DUMMY)
        if record is None or not same:
            await self._failed(key_id, "unknown_key" if record is None else "wrong_secret")
            return None
        info, now = record.info, self._clock()
        if info.revoked_at is not None or (info.expires_at is not None
                                           and now >= info.expires_at):
            await self._failed(key_id, "revoked" if info.revoked_at is not None
                               else "expired")
            return None
        principal = info.principal()
        if info.used_at is None and await self._store.key_used(key_id, now):
            await self._record("key.used_first", principal, key_id, "ok", None)
        return principal

    async def _failed(self, key_id: str | None, why: str) -> None:
        # Never the key itself: only its public id, when it had the right shape.
        await self._record("auth.failed", None, key_id or "", "denied", {"reason": why})

    async def _record(self, action: str, by: Principal | None, target: str, outcome: str,
                      details: Mapping[str, Any] | None) -> None:
        if self._audit is not None:
            await self._audit(action, principal=by.id if by else "", target=target,
                              outcome=outcome, details=details)
