"""SmartExecutor: prediction of each call's cost and failure, and advice acted on."""

from skillexec.smart.advisor import AdviceRequest, Advisor, StatisticalAdvisor, Strategy
from skillexec.smart.executor import SmartExecutor
from skillexec.smart.prediction import Features, Prediction, Predictor
from skillexec.smart.settings import SmartSettings

__all__ = [
    "AdviceRequest",
    "Advisor",
    "Features",
    "Prediction",
    "Predictor",
    "SmartExecutor",
    "SmartSettings",
    "StatisticalAdvisor",
    "Strategy",
]
