"""The session's partner tables in the cluster's object stores, one piece per entity range.

With ``executor: ray`` the zone keeps in its own process only what every job reads there: each
table's entities and row index, its schema, and the requester's whole table (its rows are the
leads, labels and values the jobs plan with). Every other party's columns — the touches and
attributes, most of a session's memory — are cut by the cluster's entity ranges
(:func:`neutral_zone.cluster.jobs.entity_ranges`; rows without a person go to the first) into
pieces: one :class:`~neutral_zone.tables.PartyTable` per range, holding that range's rows only.
Each piece is made on a node of the cluster, in turn (node affinity), so the tables are spread
over the nodes' object stores, and the zone's copy of the columns is dropped.

A job's cluster path hands a range's pieces to the task of that range (:func:`pieces_for`): the
same single-table functions then run on them. The zone's own code still reads
``table.columns[name]`` where it needs a whole column (a plan, an in-process job):
:class:`StoredColumns` gathers it from the pieces for that call and keeps nothing. Closing the
session drops the pieces with the rest of it.

A piece larger than what its node's object store has free is still kept: Ray allocates past the
store in shared memory (its fallback allocation, beneath the node's tmpfs, where the node
launcher's confinement allows writes), so the limit is the nodes' RAM, as for any job's objects
(measured: a 320 MB piece on a node with an 80 MB store).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

import numpy as np
import numpy.typing as npt

from neutral_zone.cluster.jobs import entity_ranges, range_index
from neutral_zone.tables import PartyTable
from protocols.psi import POINT_BYTES

Ranges = list[tuple[int, int]]


def _piece(
    t: PartyTable,
    rows: npt.NDArray[np.intp],
    columns: Mapping[str, npt.NDArray[np.generic]],
    row_entities: npt.NDArray[np.int64],
) -> PartyTable:
    """The rows ``rows`` of ``t`` as a table of their own (row i of the piece is row rows[i]), with
    ``columns`` (whole columns of ``t``) and ``t``'s row entities computed once by the caller."""
    return PartyTable(
        party=t.party,
        role=t.role,
        pseudonyms=np.empty((0, POINT_BYTES), np.uint8),
        valid=np.empty(0, bool),
        schema=[i for i in t.schema if i.name in columns],
        id_index=np.arange(len(rows), dtype=np.int32),
        columns={name: np.ascontiguousarray(col[rows]) for name, col in columns.items()},
        entity=row_entities[rows],
    )


def _hold(piece: PartyTable) -> PartyTable:
    """A Ray task on the node chosen for the piece: its return value is stored there."""
    return piece


def _rows(piece: PartyTable) -> int:
    """A Ray task beside a piece: it exists (or its error comes back), without a copy elsewhere."""
    return piece.n_rows


class StoredColumns(MutableMapping[str, npt.NDArray[np.generic]]):
    """A table's columns kept as pieces in the object stores: ``columns[name]`` gathers the whole
    column in the table's row order for the caller (a copy; nothing is cached)."""

    def __init__(self, refs: list[Any], table: PartyTable, names: list[str], ranges: Ranges) -> None:
        self.refs, self.names, self.ranges = refs, names, ranges
        self.n_rows = table.n_rows
        self._row_entities = table.row_entities  # which rows a piece holds follows from them: not kept

    @property
    def rows(self) -> list[npt.NDArray[np.intp]]:
        """Each piece's rows, in the table's row order (computed: 8 B a row is not kept for them)."""
        if not self.refs:
            return []
        at = range_index(self._row_entities(), self.ranges)
        return [np.flatnonzero(at == p) for p in range(len(self.ranges))]

    def __getitem__(self, name: str) -> npt.NDArray[np.generic]:
        if name not in self.names:
            raise KeyError(name)
        import ray

        out: npt.NDArray[np.generic] | None = None
        for ref, rows in zip(self.refs, self.rows, strict=True):
            col = ray.get(ref).columns[name]
            if out is None:
                out = np.empty(self.n_rows, dtype=col.dtype)
            out[rows] = col
        return out if out is not None else np.empty(0)

    def __setitem__(self, name: str, value: npt.NDArray[np.generic]) -> None:
        raise TypeError("a stored table's columns are read-only")

    def __delitem__(self, name: str) -> None:
        raise TypeError("a stored table's columns are read-only")

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def clear(self) -> None:
        """Drop the pieces (the object stores free them once no task holds them)."""
        self.refs, self.names, self.ranges = [], [], []


def stored(t: PartyTable) -> StoredColumns | None:
    return t.columns if isinstance(t.columns, StoredColumns) else None


def store_tables(tables: dict[str, PartyTable], keep: str, n_entities: int, partitions: int) -> Ranges:
    """Move every table but ``keep``'s into the object stores, cut by the cluster's entity ranges and
    spread over its nodes in turn; returns the ranges. Each table's ``columns`` becomes a
    :class:`StoredColumns`."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    ranges = entity_ranges(n_entities, partitions)
    alive: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]  # ray is untyped
    nodes = sorted(n["NodeID"] for n in alive if n.get("Alive"))
    hold: Any = ray.remote(_hold)
    check: Any = ray.remote(_rows)
    for name, t in tables.items():
        if name == keep or isinstance(t.columns, StoredColumns):
            continue
        ent = t.row_entities()
        at = range_index(ent, ranges)
        rows = [np.flatnonzero(at == p) for p in range(len(ranges))]
        refs: list[Any] = []
        made: list[Any] = []
        for p, r in enumerate(rows):
            if p >= len(nodes):  # one piece in flight per node: the zone's node never holds a table copy
                ray.get(made[p - len(nodes)])
            where = NodeAffinitySchedulingStrategy(nodes[p % len(nodes)], soft=True)
            refs.append(
                hold.options(scheduling_strategy=where, num_cpus=0).remote(_piece(t, r, t.columns, ent))
            )
            made.append(check.options(scheduling_strategy=where, num_cpus=0).remote(refs[-1]))
        ray.get(made)  # every piece made where it belongs, or the error now
        del rows, ent
        cols = StoredColumns(refs, t, list(t.columns), ranges)
        old, t.columns = t.columns, cols
        if isinstance(old, dict):
            old.clear()
    return ranges


def pieces_for(t: PartyTable, ranges: Ranges, names: list[str] | None = None) -> list[Any]:
    """The object refs of ``t``'s pieces for ``ranges``: the stored ones when the session was cut
    by the same ranges, else pieces of the columns ``names`` (default: all) put now from the
    table's columns (gathered, if stored by other ranges)."""
    import ray

    cols = stored(t)
    if cols is not None and cols.ranges == ranges:
        return list(cols.refs)
    keep = list(t.columns) if names is None else names
    columns = {n: t.columns[n] for n in keep}  # each gathered once, if stored by other ranges
    ent = t.row_entities()
    at = range_index(ent, ranges)
    return [ray.put(_piece(t, np.flatnonzero(at == p), columns, ent)) for p in range(len(ranges))]
