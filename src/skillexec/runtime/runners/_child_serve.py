"""A forked child's serving of a Python entry: its input read, the skill called (with a
context whose progress and artifacts go over the socket), its result or error answered.
See ``_child``, which confines the child first."""

from __future__ import annotations

import importlib
import logging
import os
import signal
import threading
import traceback
from typing import TYPE_CHECKING, Any

import orjson

from skillexec.errors import ErrorInfo, ErrorType, utf8_text
from skillexec.runtime.context import SkillContext
from skillexec.runtime.runners import _protocol as proto
from skillexec.runtime.runners._child_result import classify, estimated_size
from skillexec.runtime.runners._coroutine import run_coroutine
from skillexec.task import ArtifactRef

if TYPE_CHECKING:
    from skillexec.runtime.runners._child import ChildSetup

__all__ = ["serve"]

# The C function under signal.signal() (see _child).
_signal: Any = importlib.import_module("_signal")
_SIGTERM = int(signal.SIGTERM)


class _Channel:
    """The child's end of the socket. No reader thread (a thread costs each fork ~100 page
    faults, about a millisecond here): the engine answers an artifact request before it
    reads anything else, so ``save_artifact`` reads its reply inline, under the lock.
    Cancellation arrives as SIGTERM.
    """

    def __init__(self, sock: int, lock: threading.Lock) -> None:
        self.sock = sock
        self._lock = lock
        self._next = 0

    def send(self, payload: Any) -> None:
        data = proto.encode_frame(payload)
        with self._lock:
            proto.write_all(self.sock, data)

    def send_encoded(self, data: bytes) -> None:
        with self._lock:
            proto.write_all(self.sock, data)

    def save_artifact(self, name: str, data: bytes, mime: str | None) -> ArtifactRef:
        with self._lock:
            self._next += 1
            proto.write_all(
                self.sock,
                proto.encode_frame({"t": "artifact", "id": self._next, "name": name,
                                    "mime": mime})
                + proto.encode_frame(data, kind=proto.KIND_BYTES))
            try:
                _kind, reply = proto.read_frame_fd(self.sock, cap=1 << 20)
            except (EOFError, OSError, proto.ProtocolError):
                os._exit(73)  # the engine is gone: nobody wants the answer
        if not isinstance(reply, dict) or "ref" not in reply:
            err = reply.get("error") if isinstance(reply, dict) else "malformed reply"
            raise RuntimeError(f"artifact {name!r} was not saved: {err}")
        r = reply["ref"]
        return ArtifactRef(id=r["id"], name=r["name"], mime=r["mime"], size=int(r["size"]),
                           sha256=r["sha256"])


def _text(exc: BaseException) -> str:
    """``str(exc)``, or a stand-in: a skill's exception may raise from its own __str__."""
    try:
        return str(exc)
    except Exception:
        return "<its str() failed>"


def _error_frame(info: ErrorInfo, trace: str) -> bytes:
    """The frame reporting the skill's error. Its details are the skill's (a SkillExecError
    it raised) and may not be JSON: then they are dropped, not the answer (a frame that
    could not be encoded ended the child without one, retried as a crash)."""
    try:
        return proto.encode_frame({"t": "result", "ok": False, "error": info.to_dict(),
                                   "traceback": trace})
    except (TypeError, ValueError):
        plain = ErrorInfo(type=info.type, code=info.code, message=utf8_text(str(info.message)),
                          retryable=info.retryable, severity=info.severity,
                          details={"details_not_json": True, **(
                              {"retryable": info.details["retryable"]}
                              if isinstance(info.details.get("retryable"), bool) else {})})
        return proto.encode_frame({"t": "result", "ok": False, "error": plain.to_dict(),
                                   "traceback": trace})


def serve(setup: ChildSetup, req: dict[str, Any], sock: int) -> int:
    """The exit code (0: answered, whatever the skill did)."""
    _kind, start = proto.read_frame_fd(sock, cap=int(req["max_input_bytes"]))
    cancel = setup.cancel
    _signal.signal(_SIGTERM, lambda _s, _f: cancel.set())
    chan = _Channel(sock, setup.lock)
    c = start["context"]
    ctx = SkillContext(
        task_id=c["task_id"], skill_id=c["skill_id"], attempt=int(c["attempt"]),
        workdir=req["workdir"], config=c["config"], deadline=float(c["deadline"]),
        log=setup.log if c["skill_id"] == setup.skill_id
        else logging.getLogger(f"skillexec.skill.{c['skill_id']}"),
        progress_sink=lambda f, m: chan.send({"t": "progress", "fraction": f, "message": m}),
        artifact_sink=chan.save_artifact, cancel_event=cancel, trace=c.get("trace") or {},
    )
    me = os.getpid()
    try:
        inv = setup.invoker
        assert inv is not None
        if inv.is_async:
            value = run_coroutine(inv.call(start["input"], ctx))
        else:
            value = inv.call(start["input"], ctx)
    except BaseException as exc:
        try:
            info = classify(exc, sandbox=setup.sandbox, allow_network=setup.allow_network)
        except Exception as why:
            # The skill's error is still the answer (a crash without one was retried as
            # the engine's fault): only its finer classification is lost.
            info = ErrorInfo(type=ErrorType.EXECUTION, code="skill_raised",
                             message=utf8_text(f"{type(exc).__name__}: {_text(exc)}"[:4096]),
                             details={"exception": type(exc).__name__, "retryable": False,
                                      "unclassified": f"{type(why).__name__}: {_text(why)}"[:512]})
        chan.send_encoded(_error_frame(
            info, utf8_text(traceback.format_exc(limit=50)[-64 * 1024:])))
        return 0
    if os.getpid() != me:
        os._exit(0)
    cap = int(req["max_output_bytes"])
    try:
        estimate = estimated_size(value, cap)
    except Exception as exc:  # a container of the skill's own whose methods raise
        chan.send({"t": "result", "ok": False, "error": ErrorInfo(
            type=ErrorType.EXECUTION, code="output_not_json",
            message=utf8_text(f"the skill's result cannot be read: {type(exc).__name__}: "
                              f"{_text(exc)}"[:4096])).to_dict()})
        return 0
    if estimate > cap:
        chan.send({"t": "result", "ok": False, "error": ErrorInfo(
            type=ErrorType.RESOURCE, code="output_too_large",
            message=f"the skill's result is over the cap of {cap} bytes",
            details={"cap": cap}).to_dict()})
        return 0
    try:
        body = orjson.dumps({"t": "result", "ok": True, "value": value},
                            option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)
    except (TypeError, orjson.JSONEncodeError) as exc:
        chan.send({"t": "result", "ok": False, "error": ErrorInfo(
            type=ErrorType.EXECUTION, code="output_not_json",
            message=f"the skill's result is not JSON-serialisable: {exc}").to_dict()})
        return 0
    if len(body) > cap:
        chan.send({"t": "result", "ok": False, "error": ErrorInfo(
            type=ErrorType.RESOURCE, code="output_too_large",
            message=f"the skill's result is {len(body)} bytes, over the cap of {cap} bytes",
            details={"size": len(body), "cap": cap}).to_dict()})
        return 0
    chan.send_encoded(proto.encode_json_body(body))
    return 0
