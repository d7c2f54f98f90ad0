"""Observability: events, metrics, live statistics, logs, traces, reports, alerts.

events.py (TaskEvent, EventBus, EventLog) · monitor.py (ExecutionMonitor, the middleware) ·
settings.py (MonitorSettings) · metrics.py (ExecutionMetrics, MetricCollector) · stats.py
(per-skill statistics, snapshots) · sketch.py (QuantileSketch) · prometheus.py (an engine's
live metrics) · journal_metrics.py (a data directory's, from its journal) · logs.py
(structlog, redaction) · tracing.py (OpenTelemetry, optional) · reports.py + report_render.py
+ _html.py · rules.py, alerts.py, notifiers.py.
"""
