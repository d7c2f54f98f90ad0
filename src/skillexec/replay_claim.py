"""Replay claims: one replay of a task at a time, across processes and nodes.

Two ``tasks replay --all-failed`` at once (a cron job and an operator, a re-run after a
Ctrl-C) both read the same dead letters as not replayed yet, and ran each twice. So before it
submits anything, a replay journals a ``replay_claim`` event ``{task_id, token}`` per task,
waits until the claims are durable, and only then reads the other claims of the last
``OPEN_S`` seconds. A claim is closed by the ``replayed`` event its replay journals once the
new task is accepted (``{task_id, new_task_id, token}``), or by a ``replay_dropped`` one. A
task is not run again here where another claim of it:

- is open and older (a lower ``seq``): that replay goes on, this one drops its claim;
- is open and newer: it is waited for (it goes on only where it did not see this one);
- was replayed as a task that has not ended: a replay of it runs.

and, for ``--all-failed`` (``again=False``), where it was replayed at all meanwhile.

Two claimants cannot both go on: each reads after its own claim is durable, so at least one
of them sees the other's claim (SQLite writes one transaction at a time; PostgreSQL reads
what was committed before the read began), and the one that sees an older open claim steps
back, while the older one waits for the newer to step back or go on. A claim whose process
died before closing it stops counting after ``OPEN_S``.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from skillexec.storage.store import TaskStore

__all__ = ["OPEN_S", "Claims", "claim", "close", "drop"]

# A claim is closed within moments (the new task's acceptance): this is only how long the
# claim of a process killed in between holds the task up.
OPEN_S = 120.0
_POLL_S = 0.05
_ALL = 1_000_000  # events read at once: a window of claims, never the whole journal


@dataclass(slots=True)
class Claims:
    """``tokens``: the tasks this replay may run, with its claim's token; ``refused``:
    the others, with why."""

    tokens: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)


async def claim(store: TaskStore, task_ids: Sequence[str], *, again: bool) -> Claims:
    """Claim each task for this replay (see the module). ``again``: a task replayed before
    may run again (a task named by its id) once that replay ended."""
    since = time.time() - OPEN_S
    mine = {t: secrets.token_hex(12) for t in dict.fromkeys(task_ids)}
    try:
        return await _settle(store, mine, since, again=again)
    except BaseException:
        # Interrupted (Ctrl-C, a cancelled caller): claims left open would hold every
        # other replay of these tasks off for OPEN_S, as if this one ran them.
        await asyncio.shield(asyncio.gather(*(drop(store, t, tok) for t, tok in mine.items()),
                                            return_exceptions=True))
        raise


async def _settle(store: TaskStore, mine: dict[str, str], since: float, *,
                  again: bool) -> Claims:
    await asyncio.gather(*(store.append_event("replay_claim", {"task_id": t, "token": tok})
                           for t, tok in mine.items()))
    out = Claims()
    pending = dict(mine)
    give_up = time.monotonic() + OPEN_S  # by then every other claim has closed or lapsed
    while pending:
        if time.monotonic() > give_up:
            for task_id, token in pending.items():
                out.refused[task_id] = "its replay claim could not be settled: try again"
                await drop(store, task_id, token)
            break
        seen = await _seen(store, since)
        waiting: dict[str, str] = {}
        for task_id, token in pending.items():
            verdict = await _verdict(store, seen, task_id, token, again=again)
            if verdict is None:
                out.tokens[task_id] = token
            elif verdict == "":
                waiting[task_id] = token
            else:
                out.refused[task_id] = verdict
                await drop(store, task_id, token)
        pending = waiting
        if pending:
            await asyncio.sleep(_POLL_S)
    return out


async def close(store: TaskStore, task_id: str, token: str, new_task_id: str) -> None:
    """The claim's replay submitted its task: journal that (``replayed``), durably."""
    await store.append_event("replayed", {"task_id": task_id, "new_task_id": new_task_id,
                                          "token": token})


async def drop(store: TaskStore, task_id: str, token: str) -> None:
    """This replay will not run the task after all: its claim holds nobody up."""
    await store.append_event("replay_dropped", {"task_id": task_id, "token": token})


@dataclass(frozen=True, slots=True)
class _Seen:
    claims: dict[str, list[tuple[int, str, float]]]  # task id -> (seq, token, at)
    replayed: dict[str, str]  # token -> new task id
    replayed_tasks: dict[str, str]  # task id -> a new task id it was replayed as
    dropped: set[str]  # tokens


async def _seen(store: TaskStore, since: float) -> _Seen:
    claims: dict[str, list[tuple[int, str, float]]] = {}
    for e in await store.read_events("replay_claim", since=since, limit=_ALL):
        d: dict[str, Any] = e["data"]
        claims.setdefault(str(d.get("task_id")), []).append(
            (int(e["seq"]), str(d.get("token")), float(e["at"])))
    replayed: dict[str, str] = {}
    replayed_tasks: dict[str, str] = {}
    for e in await store.read_events("replayed", since=since, limit=_ALL):
        d = e["data"]
        replayed_tasks[str(d.get("task_id"))] = str(d.get("new_task_id"))
        if d.get("token"):
            replayed[str(d["token"])] = str(d.get("new_task_id"))
    dropped = {str(e["data"].get("token")) for e in await store.read_events(
        "replay_dropped", since=since, limit=_ALL)}
    return _Seen(claims, replayed, replayed_tasks, dropped)


async def _verdict(store: TaskStore, seen: _Seen, task_id: str, token: str, *,
                   again: bool) -> str | None:
    """None: this replay may run the task; "": wait (a newer claim is open); else why not."""
    if not again and task_id in seen.replayed_tasks:
        return (f"another replay ran it meanwhile, as task {seen.replayed_tasks[task_id]}")
    claims = seen.claims.get(task_id, [])
    own = next((seq for seq, tok, _ in claims if tok == token), None)
    if own is None:  # not readable yet where this journal reads (never once durable)
        return ""
    wait = False
    for seq, tok, at in claims:
        if tok == token or tok in seen.dropped:
            continue
        if (new_id := seen.replayed.get(tok)) is not None:
            info = await store.get(new_id)
            if info is not None and not info.status.terminal:
                return (f"another replay of it runs, as task {new_id}: wait for it to end")
            continue
        if at < time.time() - OPEN_S:
            continue  # its process died before it closed the claim
        if seq < own:
            return ("another replay of it started at the same time and runs it (this one "
                    "stepped back, so that it runs once)")
        wait = True  # a newer claim, open: it steps back, or goes on where it missed this one
    return "" if wait else None
