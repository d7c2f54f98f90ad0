"""PressureGauge: how loaded the machine is, sampled in the background, never per call.

``sample`` returns ``(memory_used_pct, cpu_pct)``, and optionally the memory used in MB as
a third value; the default reads psutil. Tests and benchmarks inject their own sampler.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from skillexec.resources.limits import PressureSettings

__all__ = ["PressureGauge", "psutil_sample"]

Sample = Callable[[], Sequence[float]]


def psutil_sample() -> tuple[float, float, float]:
    import psutil

    vm = psutil.virtual_memory()
    used_mb = (vm.total - vm.available) / (1 << 20)
    return (used_mb / (vm.total / (1 << 20)) * 100.0, psutil.cpu_percent(interval=None),
            used_mb)


class PressureGauge:
    def __init__(self, *, settings: PressureSettings | None = None,
                 sample: Sample | None = None) -> None:
        self.settings = settings or PressureSettings()
        self._sample = sample or psutil_sample
        self.memory_pct = 0.0
        self.memory_used_mb: float | None = None
        self.cpu_pct = 0.0
        self.active = False  # under pressure now
        self.samples = 0
        self._listeners: list[Callable[[bool], None]] = []
        self._sample_listeners: list[Callable[[], None]] = []
        self._cpu_window: list[float] = []
        if sample is None:
            self._prime()

    @staticmethod
    def _prime() -> None:
        import psutil

        psutil.cpu_percent(interval=None)  # the first reading of cpu_percent is meaningless

    def on_change(self, listener: Callable[[bool], None]) -> None:
        self._listeners.append(listener)

    def on_sample(self, listener: Callable[[], None]) -> None:
        self._sample_listeners.append(listener)

    def room_mb(self) -> float | None:
        """Memory that may still be used before a memory threshold is reached (None: the
        sampler does not report MB)."""
        used = self.memory_used_mb
        if used is None:
            return None
        s = self.settings
        room = float("inf")
        if self.memory_pct > 0:
            total = used / self.memory_pct * 100.0
            room = total * s.memory_threshold_pct / 100.0 - used
        if s.memory_threshold_mb is not None:
            room = min(room, s.memory_threshold_mb - used)
        return room

    def update(self) -> bool:
        """Take one sample and decide; returns whether the machine is under pressure."""
        values = self._sample()
        self.memory_pct = float(values[0])
        cpu = float(values[1])
        window = self._cpu_window
        window.append(cpu)
        if len(window) > self.settings.cpu_window_samples:
            del window[0]
        self.cpu_pct = sum(window) / len(window)
        self.memory_used_mb = float(values[2]) if len(values) > 2 else None
        self.samples += 1
        s = self.settings
        # Once on, pressure stays on until use is a margin below each threshold (no flapping).
        pct_margin = s.release_margin_pct if self.active else 0.0
        mb_margin = s.release_margin_mb if self.active else 0.0
        over = (self.memory_pct >= s.memory_threshold_pct - pct_margin
                or (s.cpu_threshold_pct is not None and len(window) >= s.cpu_window_samples
                    and self.cpu_pct >= s.cpu_threshold_pct - pct_margin)
                or (s.memory_threshold_mb is not None and self.memory_used_mb is not None
                    and self.memory_used_mb >= s.memory_threshold_mb - mb_margin))
        if over is not self.active:
            self.active = over
            for listener in self._listeners:
                listener(over)
        for sampled in self._sample_listeners:
            sampled()
        return over

    def reasons(self) -> dict[str, float | None]:
        return {"memory_pct": round(self.memory_pct, 1), "cpu_pct": round(self.cpu_pct, 1),
                "memory_used_mb": (None if self.memory_used_mb is None
                                   else round(self.memory_used_mb))}

    async def run(self) -> None:
        """Sample every ``sample_interval_s`` until cancelled."""
        while True:
            self.update()
            await asyncio.sleep(self.settings.sample_interval_s)
