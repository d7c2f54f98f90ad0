"""RetryBudget: retries may add at most a fixed share to a skill's load.

A token bucket per skill: every first attempt deposits ``ratio`` tokens, every retry costs
one, and the bucket holds at most ``max_tokens`` (it starts full, so a quiet skill can still
retry a few failures). Over time retries are therefore at most ``ratio`` x first attempts
(plus the bucket): when a dependency fails every call, the load on it is multiplied by at
most ``1 + ratio`` instead of by ``max_retries + 1``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BudgetState", "RetryBudget"]


@dataclass(slots=True)
class BudgetState:
    tokens: float
    deposits: int = 0
    retries: int = 0
    refused: int = 0


class RetryBudget:
    def __init__(self, *, ratio: float = 0.3, max_tokens: float = 10.0,
                 enabled: bool = True) -> None:
        if ratio < 0 or max_tokens < 1:
            raise ValueError("ratio must be >= 0 and max_tokens >= 1")
        self.ratio = ratio
        self.max_tokens = max_tokens
        self.enabled = enabled
        self._skills: dict[str, BudgetState] = {}

    def _state(self, skill: str) -> BudgetState:
        st = self._skills.get(skill)
        if st is None:
            st = self._skills[skill] = BudgetState(tokens=self.max_tokens)
        return st

    def deposit(self, skill: str) -> None:
        """A first attempt of ``skill`` ran."""
        st = self._state(skill)
        st.deposits += 1
        st.tokens = min(self.max_tokens, st.tokens + self.ratio)

    def try_spend(self, skill: str) -> bool:
        """May ``skill`` retry now? Takes a token if so."""
        st = self._state(skill)
        if not self.enabled:
            st.retries += 1
            return True
        if st.tokens >= 1.0:
            st.tokens -= 1.0
            st.retries += 1
            return True
        st.refused += 1
        return False

    def tokens(self, skill: str) -> float:
        return self._state(skill).tokens

    def snapshot(self) -> dict[str, dict[str, float]]:
        return {k: {"tokens": round(v.tokens, 3), "first_attempts": v.deposits,
                    "retries": v.retries, "refused": v.refused}
                for k, v in self._skills.items()}
