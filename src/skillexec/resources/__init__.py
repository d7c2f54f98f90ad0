"""ResourceManager: quotas, bulkheads, admission under system pressure, usage accounting."""

from skillexec.resources.limits import CallLimits, PressureSettings, ResourceLimits
from skillexec.resources.manager import ResourceManager
from skillexec.resources.pressure import PressureGauge
from skillexec.resources.ratelimit import TokenBucket

__all__ = ["CallLimits", "PressureGauge", "PressureSettings", "ResourceLimits",
           "ResourceManager", "TokenBucket"]
