"""keep_contested: the one rule by which a policy that grants something by skill id keeps
the ids several skill folders claim (the skill book works them out once, for all of them).

Grants by id (trust, per-skill permissions, secrets) are given to no folder while more
than one claims the id: an id is whatever a manifest says.
"""

from __future__ import annotations

from collections.abc import Container, Mapping

__all__ = ["keep_contested"]


def keep_contested(store: dict[str, tuple[str, ...]],
                   contested: Mapping[str, tuple[str, ...]], ids: Container[str]) -> bool:
    """Keep in ``store`` those of the ``contested`` ids (-> the folders claiming each) that
    are among the policy's own ``ids``; True if that changed it."""
    own = {i: folders for i, folders in contested.items() if i in ids}
    if own == store:
        return False
    store.clear()
    store.update(own)
    return True
