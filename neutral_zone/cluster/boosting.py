"""Lead-rating training on the zone's Ray cluster: XGBoost, data-parallel, over mutual TLS.

The training rows are cut into entity partitions, one Ray actor each (spread over the nodes); each
actor trains :func:`protocols.lead_rating.boosting.fit_booster` on its partition inside XGBoost's
*federated* collective, and a server actor runs the allreduce that sums the workers' gradient
histograms at every split, so every worker grows the same trees. Why this learner and transport
(docs/DECISIONS.md 13L.1): XGBoost is built for distributed gradient boosting; its federated
communicator is gRPC with mutual TLS, so the histograms that cross between nodes are encrypted and
both ends authenticated by the certificate the nodes' Ray TLS already uses (the zone's CA, the
node's IP); Rabit's and LightGBM's sockets are plain, and Ray Train's trainer persists results to a
storage path. The model comes back as bytes (UBJSON), never a file; the actors run the zone's guard
(the worker set-up hook), so XGBoost there can read its certificates and write nothing.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from protocols.arrays import IntArray
from protocols.errors import ZhongliError
from protocols.lead_rating.boosting import BoosterModel, fit_booster
from protocols.lead_rating.model import fittable

log = logging.getLogger(__name__)

MIN_ROWS_PER_WORKER = 500  # fewer training rows per worker and the cluster buys nothing
SERVER_TIMEOUT_S = 900  # how long the allreduce server waits for its workers (they may queue for CPUs)


def node_tls() -> tuple[str, str, str] | None:
    """(CA, certificate, key) of the Ray node this process runs on: the cluster's TLS files
    (``neutral_zone.cluster.settings.node_env``), or None when the cluster runs without TLS."""
    if os.environ.get("RAY_USE_TLS") != "1":
        return None
    return (
        os.environ["RAY_TLS_CA_CERT"],
        os.environ["RAY_TLS_SERVER_CERT"],
        os.environ["RAY_TLS_SERVER_KEY"],
    )


def require_guard() -> None:
    """Refuse to train in a worker without the zone's guard (Landlock, no writes): the worker
    set-up hook installs it, and training under it shows XGBoost needs no file."""
    from neutral_zone import guard

    if not guard.is_installed():
        raise ZhongliError("lead-rating training: a cluster worker runs without the zone's no-disk guard")


class AllreduceServer:
    """Ray actor: XGBoost's federated server for one training, on this node's IP and a free port,
    with this node's certificate; it accepts only clients whose certificate the cluster's CA signed.
    The server runs in XGBoost's own threads until the actor is killed."""

    def __init__(self) -> None:
        self.tracker: Any = None

    def start(self, world: int) -> tuple[str, bool]:
        import ray
        import xgboost.federated as fed

        require_guard()
        tls = node_tls()
        self.tracker = fed.FederatedTracker(
            n_workers=world,
            port=0,
            secure=tls is not None,
            server_key_path=tls[2] if tls else None,
            server_cert_path=tls[1] if tls else None,
            client_cert_path=tls[0] if tls else None,
            timeout=SERVER_TIMEOUT_S,
        )
        self.tracker.start()
        port = int(self.tracker.worker_args()["dmlc_tracker_port"])
        ip = ray.util.get_node_ip_address()  # type: ignore[no-untyped-call]  # ray is untyped
        return f"{ip}:{port}", tls is not None


class BoostWorker:
    """Ray actor: one partition's worker of the federated training."""

    def fit(self, address: str, world: int, rank: int, X: pd.DataFrame, y: IntArray, seed: int) -> bytes:
        import ray
        from xgboost import collective

        require_guard()
        args: dict[str, Any] = {
            "dmlc_communicator": "federated",
            "federated_server_address": address,
            "federated_world_size": world,
            "federated_rank": rank,
        }
        tls = node_tls()
        if tls is not None:
            args.update(
                federated_server_cert_path=tls[0],  # the CA the server's certificate must chain to
                federated_client_key_path=tls[2],
                federated_client_cert_path=tls[1],
            )
        assigned = ray.get_runtime_context().get_assigned_resources()  # type: ignore[no-untyped-call]  # ray is untyped
        cpus = int(assigned.get("CPU", 1))
        with collective.CommunicatorContext(**args):
            return fit_booster(X, y, seed, rank=rank, nthread=cpus)


def partition_rows(entities: IntArray, world: int) -> list[IntArray]:
    """Row positions cut into ``world`` parts of (nearly) equal size, each a contiguous range of
    entities (rows sorted by entity; the split's row order plays no part)."""
    order = np.argsort(entities, kind="stable")
    return [np.sort(part) for part in np.array_split(order, world)]


def workers_for(n_rows: int, partitions: int) -> int:
    """How many workers train: one per partition, no more than the cluster's CPUs (every worker
    must run at once: the allreduce waits for all), each with at least ``MIN_ROWS_PER_WORKER`` rows."""
    import ray

    cpus = int(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]  # ray is untyped
    return max(1, min(partitions, cpus, n_rows // MIN_ROWS_PER_WORKER))


@dataclass
class FederatedLearner:
    """The lead-rating learner on the cluster (a ``protocols.lead_rating.model.Learner``).

    ``entities`` holds the entity of each row of the frame the job trains on, by that frame's
    index (the held-out split keeps it), so the partitions are entity ranges."""

    partitions: int
    entities: IntArray | None = None
    # the zone asked for TLS between its nodes: the allreduce must have it too
    tls_required: bool = field(default_factory=lambda: node_tls() is not None)

    def __call__(self, X: pd.DataFrame, y: IntArray, seed: int) -> BoosterModel:
        import ray

        y = np.asarray(y, dtype=np.int64)
        X = fittable(X)  # the single-process learner's rule for near-empty columns, the same model
        ents = (
            self.entities[X.index.to_numpy()]
            if self.entities is not None
            else np.arange(len(X), dtype=np.int64)
        )
        world = workers_for(len(X), self.partitions)
        server_cls: Any = ray.remote(num_cpus=0)(AllreduceServer)
        worker_cls: Any = ray.remote(num_cpus=1)(BoostWorker)
        server = server_cls.remote()
        workers = [worker_cls.options(scheduling_strategy="SPREAD").remote() for _ in range(world)]
        try:
            address, secure = ray.get(server.start.remote(world))
            if self.tls_required and not secure:
                raise ZhongliError("lead-rating training: the cluster's allreduce server runs without TLS")
            futures = [
                w.fit.remote(address, world, rank, X.iloc[rows], y[rows], seed)
                for rank, (w, rows) in enumerate(zip(workers, partition_rows(ents, world), strict=True))
            ]
            pending = list(futures)
            while pending:  # a failed worker fails the job at once (the others would wait for it)
                done, pending = ray.wait(pending, num_returns=1)
                ray.get(done)
            models: list[bytes] = ray.get(futures)
        finally:
            for w in workers:
                ray.kill(w)
            # Ended, not stopped: XGBoost's tracker, asked to stop, waits for its timeout. Killing
            # the actor's process closes the server and its port; nothing of it outlives the job.
            ray.kill(server)
        if any(m != models[0] for m in models[1:]):
            raise ZhongliError("lead-rating training: the cluster's workers ended with different models")
        log.info(
            "lead rating: trained on the cluster, %d worker(s), TLS %s", world, "on" if secure else "OFF"
        )
        return BoosterModel(models[0], workers=world)
