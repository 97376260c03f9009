"""The data-driven attribution model's fit on the zone's Ray cluster: the design in blocks by
partition of people, every sum over people a task per block, the optimiser on the driver.

Each partition's paths are put in the object store once; a task per partition builds that
partition's design block (:func:`protocols.attribution.design.design_block`) next to them, from the
control facts the driver settled over everybody, and the block stays in the store. The driver runs
:func:`protocols.attribution.data_driven.data_driven` unchanged: at each L-BFGS-B step it asks every
block for its log-loss and gradient sums and adds them (one round of tasks per step); the Fisher
information, the canonical folds' keys and the credit allocation are per-block tasks too; row
subsets (the complete-controls sample, folds) are blocks derived by tasks from the blocks. An
interval's fold is built the same way from each partition's people in the fold. The driver holds a
few bytes per person (masks, folds, the converted flag) and never the design
(``docs/DECISIONS.md`` 13J.5).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from protocols.arrays import IntArray
from protocols.attribution.blocks import PartitionSplit
from protocols.attribution.paths import Paths


def _apply(fn: Callable[..., Any], block: Any, *args: Any) -> Any:
    """A per-block function, as a Ray task (Ray resolves the block's reference)."""
    return fn(block, *args)


class RayBlocks:
    """Blocks in Ray's object store; functions run as tasks that take the block's reference."""

    def __init__(self) -> None:
        import ray

        self._ray = ray
        self._task: Any = ray.remote(_apply)

    def derive(
        self,
        fn: Callable[..., Any],
        blocks: Sequence[Any],
        per_block: Sequence[tuple[Any, ...]],
        common: tuple[Any, ...],
    ) -> list[Any]:
        return [self._task.remote(fn, b, *pb, *common) for b, pb in zip(blocks, per_block, strict=True)]

    def map(
        self,
        fn: Callable[..., Any],
        blocks: Sequence[Any],
        per_block: Sequence[tuple[Any, ...]],
        common: tuple[Any, ...],
    ) -> list[Any]:
        return list(self._ray.get(self.derive(fn, blocks, per_block, common)))


def ray_split(parts: list[Paths], rows_of: list[IntArray], person: IntArray) -> PartitionSplit:
    """The partitions' paths (``rows_of[i]``: partition i's people rows in the whole, whose ids are
    ``person``), put in the object store once, for the design to be built there."""
    import ray

    return PartitionSplit(RayBlocks(), [ray.put(p) for p in parts], rows_of, np.asarray(person))
