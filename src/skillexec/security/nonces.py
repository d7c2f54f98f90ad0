"""AES-GCM nonces: 96 random bits each, drawn from the kernel in blocks.

``os.urandom(12)`` per sealed field is one ``getrandom`` system call per task (~1 µs on
this VM, and invisible to an instruction count: it was part of why encryption cost more
time than its instructions said). A block of :data:`BLOCK` nonces is one call. Each nonce
is still 12 bytes of the kernel's CSPRNG, handed out once:

* ``deque.popleft`` is atomic under the GIL, so two threads never get the same one (two
  threads that find the pool empty both refill it with fresh bytes: nothing is shared);
* a forked child starts with an empty pool (``os.register_at_fork``; the zygote's fast
  fork runs such hooks too), so a parent and its child never hand out the same bytes.

Random nonces stay far inside AES-GCM's bound (2^32 messages per key, NIST SP 800-38D):
a pool changes where the bytes come from, not how many a key sees.
"""

from __future__ import annotations

import os
import struct
from collections import deque

__all__ = ["BLOCK", "nonce"]

BLOCK = 256
_SIZE = 12
_pool: deque[bytes] = deque()
_split = struct.Struct(f"{_SIZE}s" * BLOCK).unpack  # a block into its nonces, in C


def nonce() -> bytes:
    """A fresh 12-byte nonce, never returned before in this process."""
    try:
        return _pool.popleft()
    except IndexError:
        return _refill()


def _refill() -> bytes:
    first: bytes
    first, *rest = _split(os.urandom(_SIZE * BLOCK))
    _pool.extend(rest)
    return first


os.register_at_fork(after_in_child=_pool.clear)
