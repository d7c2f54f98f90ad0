"""LLMAdvisor: asks a model behind any OpenAI-compatible chat-completions endpoint.

A model is slow next to a skill call, so it is asked per skill and parameter class, not per
call: its advice is reused for ``ttl_s``. A call that finds no fresh advice waits at most
``budget_s`` for the model, then takes the fallback advisor's strategy while the model's
answer (if one comes, within ``10 x budget_s``) is kept for the next calls. Anything the
model says is checked: unknown fields are ignored, values out of range are clamped, a
runner not in the operator's list is refused. Parameters are never sent, only their
features (payload size, the values of enum-like parameters) and statistics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import orjson

from skillexec.smart.advisor import AdviceRequest, Advisor, StatisticalAdvisor, Strategy
from skillexec.smart.settings import SmartSettings

__all__ = ["LLMAdvisor"]

log = logging.getLogger("skillexec.smart.llm")

_SYSTEM = (
    "You tune a skill execution engine. Given one skill's statistics and a prediction for "
    "the next call, answer with one JSON object and nothing else: "
    '{"timeout_s": number or null, "max_retries": integer or null, '
    '"runner": one of the allowed runners or null, "reason": short string}. '
    "Choose a timeout comfortably above the p99 duration, fewer retries for calls that "
    "mostly fail, and the strongest isolation whose cost is small next to the call."
)


class LLMAdvisor:
    def __init__(self, *, base_url: str, model: str, api_key: str | None = None,
                 budget_s: float = 0.5, ttl_s: float = 300.0,
                 settings: SmartSettings | None = None,
                 fallback: Advisor | None = None) -> None:
        try:
            import httpx  # the optional extra: imported only when an LLM advisor is configured
        except ImportError:
            from skillexec.errors import ConfigError

            raise ConfigError("the LLM advisor needs httpx: pip install 'skillexec[llm]'",
                              code="missing_extra") from None

        self.settings = settings or SmartSettings()
        self.fallback: Advisor = fallback or StatisticalAdvisor(self.settings)
        self.model = model
        self.budget_s = budget_s
        self.ttl_s = ttl_s
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/") + "/", headers=headers,
                                         timeout=budget_s * 10)
        self._advice: dict[str, tuple[float, Strategy]] = {}
        self._pending: dict[str, asyncio.Task[Strategy | None]] = {}
        self.counters = {"asked": 0, "answered": 0, "used": 0, "fallbacks": 0, "invalid": 0,
                         "failed": 0}

    async def advise(self, request: AdviceRequest) -> Strategy:
        base = await self.fallback.advise(request)
        key = f"{request.skill.key}|{request.features.key}"
        now = time.monotonic()
        kept = self._advice.get(key)
        if kept is not None and now - kept[0] < self.ttl_s:
            self.counters["used"] += 1
            return _merge(kept[1], base)
        pending = self._pending.get(key)
        if pending is None:
            self.counters["asked"] += 1
            pending = self._pending[key] = asyncio.get_running_loop().create_task(
                self._ask(key, request))
            pending.add_done_callback(lambda _t: self._pending.pop(key, None))
        done, _ = await asyncio.wait({pending}, timeout=self.budget_s)
        if done:
            with contextlib.suppress(Exception):
                answer = pending.result()
                if answer is not None:
                    self.counters["used"] += 1
                    return _merge(answer, base)
        self.counters["fallbacks"] += 1
        return base

    async def _ask(self, key: str, request: AdviceRequest) -> Strategy | None:
        body = {"model": self.model, "temperature": 0,
                "response_format": {"type": "json_object"},
                "messages": [{"role": "system", "content": _SYSTEM},
                             {"role": "user", "content": orjson.dumps(_brief(request)).decode()}]}
        try:
            resp = await self._client.post("chat/completions", json=body)
            resp.raise_for_status()
            content = resp.json()["choices"][0]["message"]["content"]
            answer = self._check(orjson.loads(_strip_fence(content)), request)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            self.counters["invalid"] += 1
            log.warning("LLM advisor: unusable answer for %s: %s", request.skill.key, exc)
            return None
        except Exception as exc:  # the network, the server: advice is optional
            self.counters["failed"] += 1
            log.warning("LLM advisor: %s unreachable for %s: %s", self.model,
                        request.skill.key, type(exc).__name__)
            return None
        self.counters["answered"] += 1
        self._advice[key] = (time.monotonic(), answer)
        return answer

    def _check(self, data: Any, request: AdviceRequest) -> Strategy:
        if not isinstance(data, dict):
            raise ValueError("the answer is not a JSON object")
        s = self.settings
        timeout = data.get("timeout_s")
        if timeout is not None:
            timeout = min(s.max_timeout_s, max(s.min_timeout_s, float(timeout)))
        retries = data.get("max_retries")
        if retries is not None:
            retries = max(0, min(int(retries), request.max_retries))
        runner = data.get("runner")
        if runner is not None and (runner not in request.runners
                                   or request.skill.execution.isolation is not None):
            runner = None
        reason = str(data.get("reason") or "")[:300]
        return Strategy(timeout_s=timeout, max_retries=retries, runner=runner,
                        reason=reason, source="llm")

    async def close(self) -> None:
        for t in list(self._pending.values()):
            t.cancel()
        await self._client.aclose()


def _merge(answer: Strategy, base: Strategy) -> Strategy:
    """The model's choices where it made them, the statistical ones elsewhere; the queue
    order always comes from the prediction (it needs the call's own numbers)."""
    return Strategy(
        timeout_s=answer.timeout_s if answer.timeout_s is not None else base.timeout_s,
        max_retries=answer.max_retries if answer.max_retries is not None else base.max_retries,
        runner=answer.runner if answer.runner is not None else base.runner,
        order_s=base.order_s, reason=answer.reason or base.reason, source="llm")


def _brief(request: AdviceRequest) -> dict[str, Any]:
    st = request.stats()
    p = request.prediction
    return {
        "skill": {"id": request.skill.id, "version": request.skill.version,
                  "description": (request.skill.description or "")[:500]},
        "call": {**request.features.to_dict(), "timeout_s": request.timeout_s,
                 "max_retries": request.max_retries, "runner": request.isolation},
        "allowed_runners": list(request.runners),
        "prediction": p.to_dict() if p else None,
        "statistics": None if st is None else {
            "calls": st.total, "success_rate": st.success_rate,
            "p50_ms": st.exec_p50_ms, "p95_ms": st.exec_p95_ms, "p99_ms": st.exec_p99_ms,
            "errors": dict(st.errors), "retries": st.retries},
    }


def _strip_fence(content: str) -> str:
    text = content.strip()
    if text.startswith("```"):
        text = text.strip("`")
        text = text.split("\n", 1)[1] if "\n" in text else text
    return text
