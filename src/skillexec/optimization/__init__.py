"""ExecutionOptimizer: the result cache of cacheable skills, and single-flight."""

from skillexec.optimization.cache import ResultCache, cache_key
from skillexec.optimization.optimizer import CacheSettings, ExecutionOptimizer
from skillexec.optimization.singleflight import SingleFlight

__all__ = ["CacheSettings", "ExecutionOptimizer", "ResultCache", "SingleFlight", "cache_key"]
