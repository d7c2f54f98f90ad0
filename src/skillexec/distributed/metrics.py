"""NodeMetrics: a worker's Prometheus counters (served on ``--metrics-port``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from skillexec.errors import ConfigError

__all__ = ["NodeMetrics"]


class NodeMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.claimed = Counter("skillexec_worker_claims", "Fenced claims won.", registry=r)
        self.handed_back = Counter("skillexec_worker_handed_back",
                                   "Ids published again for another worker: no room "
                                   "here, or claimed and not startable here.",
                                   registry=r)
        self.refused = Counter("skillexec_worker_refused",
                               "Deliveries refused: duplicate, stale or already ended.",
                               registry=r)
        self.early = Counter("skillexec_worker_early_claims",
                             "Claims sent by the thread that received the message.",
                             registry=r)
        self.unseen = Counter("skillexec_worker_unseen",
                              "Claims tried again: the task was not in the journal yet.",
                              registry=r)
        self.finished = Counter("skillexec_worker_finished", "Tasks run to their end here.",
                                ["status"], registry=r)
        self.reaped = Counter("skillexec_worker_reaped", "Expired leases taken back.",
                              ["action"], registry=r)
        self.republished = Counter("skillexec_worker_republished",
                                   "Queued tasks nobody claimed, published again.", registry=r)
        self.fenced_out = Gauge("skillexec_worker_fenced_out",
                                "Terminal writes refused: the fence had moved on.", registry=r)

    def serve(self, port: int) -> None:
        try:
            start_http_server(port, addr="127.0.0.1", registry=self.registry)
        except OSError as exc:
            raise ConfigError(f"--metrics-port {port}: cannot listen on 127.0.0.1:{port}: "
                              f"{exc.strerror or exc}", code="metrics_port") from None
