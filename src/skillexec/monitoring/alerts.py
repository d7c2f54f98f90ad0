"""AlertManager: evaluates the rules over the monitor's windows, deduplicates, notifies.

An alert is keyed by (rule, subject). While its condition holds it is sent once, and again
only after the rule's cooldown; when the condition clears, a ``resolved`` alert is sent.
Every alert sent is kept in the journal (``append_event("alert", ...)``), so
``skillexec report alerts`` shows the history after restarts. The clock is injectable.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from skillexec.monitoring.notifiers import LogNotifier, Notifier, WebhookNotifier
from skillexec.monitoring.rules import Alert, AlertRule
from skillexec.monitoring.settings import MonitorSettings
from skillexec.monitoring.sketch import QuantileSketch
from skillexec.reliability.breaker import BREAKER_EVENT
from skillexec.storage.journal import EventWriter

if TYPE_CHECKING:
    from skillexec.monitoring.monitor import ExecutionMonitor
    from skillexec.storage.store import TaskStore

__all__ = ["AlertManager"]

_log = logging.getLogger("skillexec.alerts")


class AlertManager:
    def __init__(self, monitor: ExecutionMonitor, rules: Iterable[AlertRule],
                 notifiers: Iterable[Notifier] = (), *, store: TaskStore | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.monitor = monitor
        self.rules = tuple(rules)
        self.notifiers: list[Notifier] = list(notifiers)
        self.store = store
        self._events = EventWriter(store)
        self.clock = clock
        # (rule, subject) active now -> its alert as last sent (or last breached, when the
        # cooldown held a repeat back)
        self._firing: dict[tuple[str, str], Alert] = {}
        self._last_sent: dict[tuple[str, str], float] = {}
        self._circuit_seq = 0

    @classmethod
    def from_settings(cls, monitor: ExecutionMonitor, settings: MonitorSettings, *,
                      store: TaskStore | None = None,
                      clock: Callable[[], float] = time.time) -> AlertManager:
        notifiers: list[Notifier] = [LogNotifier(monitor.log)]
        if settings.webhook_url:
            notifiers.append(WebhookNotifier(settings.webhook_url,
                                             retries=settings.webhook_retries,
                                             timeout_s=settings.webhook_timeout_s))
        return cls(monitor, settings.alert_rules, notifiers, store=store, clock=clock)

    def add_notifier(self, notifier: Notifier) -> None:
        self.notifiers.append(notifier)

    # -- measuring -----------------------------------------------------------------------------

    def _measure(self, rule: AlertRule, now: float) -> list[tuple[str, float]]:
        m = self.monitor
        stats = [st for st in m.metrics.skills.values()
                 if rule.skill is None or st.skill == rule.skill]
        out: list[tuple[str, float]] = []
        if rule.metric == "error_rate":
            for st in stats:
                calls, errors = st.window.totals(now, rule.window_s)
                if calls >= rule.min_calls:
                    out.append((st.skill, errors / calls))
        elif rule.metric == "p95_timeout_ratio":
            for st in stats:
                calls, _ = st.window.totals(now, rule.window_s)
                p95 = st.window.quantile(now, rule.window_s, 0.95)
                if calls >= rule.min_calls and p95 is not None and st.timeout_s:
                    out.append((st.skill, p95 / 1000.0 / st.timeout_s))
        elif rule.metric == "queue_depth":
            out.append(("engine", float(sum(m.queue_depth().values()))))
        elif rule.metric == "queue_wait_p95_ms":
            merged = QuantileSketch(m.settings.window_accuracy)
            for st in stats:
                st.window.merge_into(merged, now, rule.window_s, queue=True)
            if merged.count >= rule.min_calls:
                out.append(("engine", merged.quantile(0.95) or 0.0))
        elif rule.metric in ("system_memory_percent", "system_cpu_percent"):
            sysm = m.metrics.system()
            out.append(("system", sysm.memory_percent if rule.metric ==
                        "system_memory_percent" else sysm.cpu_percent))
        elif rule.metric == "circuit_open":
            for skill, state in m.circuit_states().items():
                if rule.skill is None or skill == rule.skill:
                    out.append((skill, 1.0 if state == "open" else 0.0))
        return out

    async def poll_circuits(self) -> None:
        """Learn circuit states from the journal's ``breaker`` events (the ErrorHandler of
        any engine on this data directory writes one per transition)."""
        if self.store is None:
            return
        try:
            events = await self.store.read_events(BREAKER_EVENT, limit=10_000) \
                if self._circuit_seq == 0 else await self._events_after()
        except Exception:  # the journal is closed or busy: next time
            return
        for ev in events:
            self._circuit_seq = max(self._circuit_seq, int(ev["seq"]))
            data = ev.get("data") or {}
            skill, state = data.get("skill"), data.get("to")
            if isinstance(skill, str) and isinstance(state, str):
                self.monitor.circuits[skill] = state

    async def _events_after(self) -> list[dict[str, Any]]:
        assert self.store is not None  # poll_circuits asks only with a store
        recent = await self.store.read_events(BREAKER_EVENT, since=time.time() - 86400,
                                              limit=10_000)
        return [e for e in recent if int(e["seq"]) > self._circuit_seq]

    # -- evaluating ----------------------------------------------------------------------------

    async def evaluate(self) -> list[Alert]:
        """Check every rule now; send and record what fires or resolves. Returns those."""
        await self.poll_circuits()
        now = self.clock()
        sent: list[Alert] = []
        for rule in self.rules:
            try:
                measured = self._measure(rule, now)
            except Exception:
                _log.exception("alert rule %s could not be evaluated", rule.name)
                continue
            seen: set[str] = set()
            for subject, value in measured:
                seen.add(subject)
                key = (rule.name, subject)
                if rule.breached(value):
                    last = self._last_sent.get(key)
                    if last is not None and now - last < rule.cooldown_s:
                        # Not sent again, yet firing: as measured when it breached again.
                        if key not in self._firing:
                            self._firing[key] = self._alert(rule, subject, value, now,
                                                            "firing")
                        continue  # deduplicated: sent recently
                    self._last_sent[key] = now
                    self._firing[key] = self._alert(rule, subject, value, now, "firing")
                    sent.append(self._firing[key])
                elif self._firing.pop(key, None) is not None:
                    sent.append(self._alert(rule, subject, value, now, "resolved"))
            for key in [k for k in self._firing if k[0] == rule.name and k[1] not in seen]:
                del self._firing[key]  # no longer measured (the window emptied)
        for alert in sent:
            await self._deliver(alert)
        return sent

    def _alert(self, rule: AlertRule, subject: str, value: float, now: float,
               state: str) -> Alert:
        verb = "is" if state == "firing" else "is back to"
        what = "breached" if state == "firing" else "cleared"
        msg = (f"{rule.metric} of {subject} {verb} {value:.4g} "
               f"({rule.condition} {rule.threshold:g} {what})")
        return Alert(rule=rule.name, metric=rule.metric, subject=subject, value=value,
                     threshold=rule.threshold, condition=rule.condition,
                     severity=rule.severity, at=now,
                     state="firing" if state == "firing" else "resolved", message=msg)

    async def _deliver(self, alert: Alert) -> None:
        await self._events.durable("alert", alert.to_dict())
        for n in self.notifiers:
            try:
                await n.notify(alert)
            except Exception:
                _log.exception("notifier %r failed for alert %s", n, alert.rule)

    @property
    def active(self) -> frozenset[tuple[str, str]]:
        return frozenset(self._firing)

    def firing(self) -> list[Alert]:
        """The alerts active now (newest first), each as last sent, or — when the cooldown held
        back a repeat after it had resolved — as measured when it breached again."""
        return sorted(self._firing.values(), key=lambda a: -a.at)

    async def run(self, interval_s: float) -> None:
        """Evaluate every ``interval_s`` until cancelled (the engine cancels it at close)."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.evaluate()
            except Exception:
                _log.exception("alert evaluation failed")
