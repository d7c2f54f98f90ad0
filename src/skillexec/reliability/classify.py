"""The error classifier, where it was: it lives in :mod:`skillexec.classification` now, below
both the runners (which classify what a skill raised) and reliability (which decides on it)."""

from skillexec.classification import (
    DEFAULT_CODE_RULES,
    DEFAULT_RULES,
    DEFAULT_STATUS_RULES,
    STATUS_SOURCES,
    ClassificationRule,
    CodeRule,
    ErrorClassifier,
    StatusRule,
    parse_retry_after,
)

__all__ = ["DEFAULT_CODE_RULES", "DEFAULT_RULES", "DEFAULT_STATUS_RULES", "STATUS_SOURCES",
           "ClassificationRule", "CodeRule", "ErrorClassifier", "StatusRule",
           "parse_retry_after"]
