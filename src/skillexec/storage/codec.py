"""What the journal stores of a payload: the bytes as they are, or sealed (encryption at rest).

Every store maps tasks to rows through one codec, above its SQL: the SQLite journal and any
other store seal the same fields the same way. Sealed are the payloads: a task's
parameters and config, its output, its error's message and details (and that message's
gist in the task's summary), its attempt history, the errors carried by events, the cached
outputs. Ids, states, skills, times and metrics
stay clear, so reports and statistics read them without a key.

A sealed field is ``0x01 ‖ key id (4) ‖ nonce (12) ‖ AES-256-GCM ciphertext ‖ tag``, under
the data key of the row's principal; its associated data binds it to its table, row id,
field, principal and key id, so a ciphertext copied into another row, field or principal's
row fails to open instead of reading as that row's data.
"""

from __future__ import annotations

import base64
import functools
from binascii import b2a_base64
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag

from skillexec.errors import ConfigError, ResourceError
from skillexec.security.keyring import Keyring, load_master_key
from skillexec.security.nonces import nonce as _nonce

__all__ = ["PLAIN", "Codec", "SealingCodec", "is_sealed", "open_codec"]

_V1 = 1
_HEADER = 1 + 4 + 12
_SEALED_KEY = "sealed"  # the key of a JSON document's sealed part


def is_sealed(blob: bytes | str | None) -> bool:
    return isinstance(blob, bytes | bytearray | memoryview) and len(blob) > _HEADER \
        and blob[0] == _V1


def _lp(data: bytes) -> bytes:
    # length-prefixed: ("ab", "c") and ("a", "bc") are different associated data
    return len(data).to_bytes(4, "big") + data


@functools.lru_cache(maxsize=4096)
def _ad_parts(key_id: bytes, table: str, field: str,
              principal: str | None) -> tuple[bytes, bytes]:
    """The associated data around the row id (which alone changes from row to row)."""
    who = b"\x00" if principal is None else b"\x01" + principal.encode()
    return bytes([_V1]) + key_id + _lp(table.encode()), _lp(field.encode()) + _lp(who)


def _ad(key_id: bytes, table: str, row_id: str, field: str, principal: str | None) -> bytes:
    head, tail = _ad_parts(key_id, table, field, principal)
    return head + _lp(row_id.encode()) + tail


class Codec:
    """The plain codec: payloads stored as they are. The base of the sealing one."""

    enabled = False

    def seal(self, table: str, row_id: str, field: str, principal: str | None,
             data: bytes) -> bytes:
        return data

    def open(self, table: str, row_id: str, field: str, principal: str | None,
             blob: bytes) -> bytes:
        if is_sealed(blob):
            raise _encrypted()
        return bytes(blob)

    # -- the documents that are part clear, part sealed -------------------------------------

    def seal_result(self, body: dict[str, Any], *, task_id: str, principal: str | None,
                    field: str = "result") -> dict[str, Any]:
        """A result's dict with its output and error text sealed (in place); ``field``: the
        row's field it is stored in (a result, or its summary: ``storage.summary``)."""
        return body

    def open_result(self, body: dict[str, Any], *, task_id: str, principal: str | None,
                    field: str = "result") -> dict[str, Any]:
        """The result's dict with its sealed part put back (in place)."""
        if _SEALED_KEY in body:
            raise _encrypted()
        return body

    def seal_error(self, data: dict[str, Any], *, table: str, row_id: str,
                   principal: str | None) -> dict[str, Any]:
        return data

    def open_error(self, data: dict[str, Any], *, table: str, row_id: str,
                   principal: str | None) -> dict[str, Any]:
        return self.open_result(data, task_id=row_id, principal=principal)


PLAIN = Codec()


def _encrypted() -> ConfigError:
    return ConfigError("the journal holds encrypted data: set [security] encryption = true "
                       "and give its master key", code="master_key_missing")


class SealingCodec(Codec):
    """Seals with the keyring's per-principal data keys (AES-256-GCM)."""

    enabled = True

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring
        # Task ids sort by creation time: a task made since encryption began has sealed
        # payloads, so a clear one there was put in place of a ciphertext (fail closed).
        self._sealed_since = f"{int(keyring.created_at * 1e6):014x}"

    def _clear_allowed(self, table: str, row_id: str, *, purged: bool) -> None:
        if table == "tasks" and row_id >= self._sealed_since and not purged:
            raise ResourceError(f"{table} {row_id}: a payload that should be sealed is not "
                                "(altered)", code="decrypt_failed")

    def seal(self, table: str, row_id: str, field: str, principal: str | None,
             data: bytes) -> bytes:
        key = self.keyring.key_for(principal)
        head, tail = _ad_parts(key.kid, table, field, principal)
        rid = row_id.encode()
        nonce = _nonce()  # from a pool: one getrandom call per block, not per field
        # the header (version, key id) is the key's, made once; the associated data is
        # _ad's, inlined: this runs once per task with encryption on
        return key.header + nonce + key.aead.encrypt(
            nonce, data, head + len(rid).to_bytes(4, "big") + rid + tail)

    def open(self, table: str, row_id: str, field: str, principal: str | None,
             blob: bytes) -> bytes:
        if not is_sealed(blob):
            # Written before encryption was turned on: read as it is (it was never sealed).
            # (a purge leaves "{}" in clear: nothing to hide, and no key left to seal it)
            self._clear_allowed(table, row_id, purged=bytes(blob) == b"{}")
            return bytes(blob)
        kid = bytes(blob[1:5])
        key = self.keyring.key_by_id(principal, int.from_bytes(kid, "big"))
        if key is None:
            raise self._no_key(table, row_id, principal, int.from_bytes(kid, "big"))
        try:
            return key.aead.decrypt(bytes(blob[5:_HEADER]), bytes(blob[_HEADER:]),
                                    _ad(kid, table, row_id, field, principal))
        except InvalidTag:
            raise ResourceError(f"{table} {row_id}: the {field} field fails its integrity "
                                "check (altered or moved)", code="decrypt_failed") from None

    def _no_key(self, table: str, row_id: str, principal: str | None,
                key_id: int) -> ResourceError:
        """A sealed field whose key this node's keyring lacks: destroyed by a purge, or never
        here (another data directory's keyring sealed it: nodes must share one)."""
        head = (f"{table} {row_id}: this node's keyring ({self.keyring.path}) has no data "
                f"key {key_id} for " + (f"principal {principal!r}" if principal is not None
                                 else "the local principal"))
        share = "every node must share the submitters' keyring.json"
        if table == "tasks" and row_id < self._sealed_since:  # older than this keyring
            return ResourceError(f"{head}: it was sealed with another data directory's "
                                 f"keyring ({share})", code="data_key_missing")
        return ResourceError(f"{head}: the data key was destroyed (a purge), or another data "
                             f"directory's keyring sealed it ({share})",
                             code="data_key_destroyed")

    def seal_result(self, body: dict[str, Any], *, task_id: str, principal: str | None,
                    field: str = "result") -> dict[str, Any]:
        output = body.get("output")
        error = body.get("error")
        if isinstance(error, dict):
            hidden: dict[str, Any] = {"output": output, "message": error.get("message"),
                                      "details": error.get("details")}
            error["message"] = ""
            error.pop("details", None)
            plain = orjson.dumps(hidden, default=str)
        elif output is None:
            # Nothing to hide: no output and no error. A sealed {"output": null} would say
            # as much by its length, and a journal's writer could already blank an output
            # in clear (the purge flag): the seal would protect nothing (open_result).
            return body
        else:
            plain = orjson.dumps({"output": output}, default=str)
        body["output"] = None
        # (b2a_base64 is what base64.b64encode calls, without its Python frame)
        body[_SEALED_KEY] = b2a_base64(self.seal("tasks", task_id, field, principal, plain),
                                       newline=False).decode()
        return body

    def open_result(self, body: dict[str, Any], *, task_id: str, principal: str | None,
                    field: str = "result") -> dict[str, Any]:
        sealed = body.pop(_SEALED_KEY, None)
        if sealed is None:
            if body.get("output") is None and body.get("error") is None:
                return body  # nothing was sealed: no output, no error (seal_result)
            purged = body.get("purged") is True
            self._clear_allowed("tasks", task_id, purged=purged)
            if purged:
                # A purge leaves nothing to read, and its flag is in clear: whatever sits
                # beside it was put there, so it is never shown as the task's.
                body["output"] = None
                error = body.get("error")
                if isinstance(error, dict):
                    error["message"] = "(purged)"  # as storage.rows.purged_result writes it
                    error.pop("details", None)
            return body
        hidden = orjson.loads(self.open("tasks", task_id, field, principal,
                                        base64.b64decode(sealed)))
        body["output"] = hidden.get("output")
        error = body.get("error")
        if isinstance(error, dict):
            error["message"] = hidden.get("message") or ""
            if hidden.get("details"):
                error["details"] = hidden["details"]
        return body

    def seal_error(self, data: dict[str, Any], *, table: str, row_id: str,
                   principal: str | None) -> dict[str, Any]:
        """An event's ``{..., "error": {...}}`` with the error's text sealed."""
        error = data.get("error")
        if not isinstance(error, dict):
            return data
        hidden = {"message": error.get("message"), "details": error.get("details")}
        data = {**data, "error": {k: v for k, v in error.items() if k != "details"}}
        data["error"]["message"] = ""
        data[_SEALED_KEY] = base64.b64encode(self.seal(
            table, row_id, "error", principal, orjson.dumps(hidden, default=str))).decode()
        return data

    def open_error(self, data: dict[str, Any], *, table: str, row_id: str,
                   principal: str | None) -> dict[str, Any]:
        sealed = data.pop(_SEALED_KEY, None)
        if sealed is None or not isinstance(data.get("error"), dict):
            return data
        hidden = orjson.loads(self.open(table, row_id, "error", principal,
                                        base64.b64decode(sealed)))
        data["error"]["message"] = hidden.get("message") or ""
        if hidden.get("details"):
            data["error"]["details"] = hidden["details"]
        return data


def open_codec(*, encryption: bool, keyring: Path, master_key_file: Path | None) -> Codec:
    """The codec of a data directory whose keyring is (or would be) at ``keyring``; a
    missing or wrong master key, or an encrypted directory opened without encryption, is a
    ConfigError in one sentence."""
    if not encryption:
        if keyring.exists():
            raise ConfigError(f"the data directory {keyring.parent} is encrypted ("
                              f"{keyring.name}): set [security] encryption = true and give its "
                              "master key", code="master_key_missing")
        return PLAIN
    master = load_master_key(key_file=master_key_file)
    return SealingCodec(Keyring.open(keyring, master))
