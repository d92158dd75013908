"""The sliding window of scored rows: the last ``rows`` rows, kept as a bounded, seeded reservoir sample.

The window is cut by row count into ``slices`` slices of equal size; the newest slice fills, and when it is
full a new one starts and the oldest is dropped, so the window always covers the last ``rows`` rows, give
or take one slice. Each slice keeps a reservoir of ``sample // slices`` rows chosen uniformly among the rows
it received (Vitter's Algorithm L: it draws how many rows to skip, so the cost of a batch is its accepted
rows, not its length), from a generator seeded with the window's seed and the slice's number: the same
traffic gives the same sample. The window's sample is every full slice's reservoir plus the newest slice's
thinned in proportion to its fill, so every row of the window had the same chance to be in it.

By count, not by time: "the last 10,000 rows" means the same at 1 request a minute and 1,000 a second,
and a quiet model still shows the traffic it last saw (the no-traffic alert says it is quiet).

A sampled row is a pair of dicts (inputs, outputs) of plain JSON values, so the window is saved as JSON. A
row a request's pass takes may come as a ``Deferred`` one instead, a position in that request's columns: the
rows are copied out when the sample is read or saved (every few seconds, all the rows of one request at once),
not on each request, and a row replaced before then is never copied at all.
Pure: numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Row = list  # [inputs: dict[str, Any], outputs: dict[str, Any]]
STATE_FORMAT = 1
UNIFORM_BLOCK = 256


@dataclass(frozen=True, slots=True)
class Deferred:
    """A sampled row still in its request's columns (``as_columns``: name -> 1-D array): see the module doc."""

    inputs: Mapping[str, Any]
    outputs: Mapping[str, Any]
    position: int


@dataclass
class Slice:
    """One slice of the window: how many rows it received and its reservoir of them."""

    number: int
    size: int                       # the reservoir's capacity
    seed: int
    seen: int = 0
    rows: list[Row | Deferred] = field(default_factory=list)
    weight: float = 0.0             # Algorithm L's W
    next_pick: int | None = None    # the index (among the rows received) of the next row to take
    uniforms: list[float] = field(default_factory=list)  # drawn ahead from the generator, used in order

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng([self.seed, self.number])

    def picks(self, count: int) -> list[tuple[int, int]]:
        """Which of the next ``count`` rows enter the reservoir: (position in the batch, slot)."""
        first, end = self.seen, self.seen + count
        out = [(t - first, t) for t in range(first, min(end, self.size))]
        if end > self.size:
            if self.next_pick is None:  # the reservoir just filled: Algorithm L starts
                self.weight = self._draw_weight()
                self.next_pick = self.size - 1 + self._skip()
            self._follow(first, end, out)
        self.seen = end
        return out

    def _follow(self, first: int, end: int, out: list[tuple[int, int]]) -> None:
        """Algorithm L's picks up to ``end``: per pick a slot, a new weight and a skip, as ``_uniform``,
        ``_draw_weight`` and ``_skip`` draw them, the same uniforms in the same order, written out in one loop
        (a 1,000-row request takes a few hundred picks; three method calls each were most of its cost)."""
        size, uniforms, weight, next_pick = self.size, self.uniforms, self.weight, self.next_pick
        log, exp, floor = math.log, math.exp, math.floor
        while next_pick < end:
            if len(uniforms) < 3:  # the next block goes under the uniforms left: they are used first
                uniforms[:0] = self._block()
            out.append((next_pick - first, min(size - 1, int(uniforms.pop() * size))))
            weight *= exp(log(uniforms.pop()) / size)
            next_pick += 1 if weight >= 1.0 else floor(log(uniforms.pop()) / log(1.0 - weight)) + 1
        self.weight, self.next_pick = weight, next_pick

    def put(self, slot: int, row: Row | Deferred) -> None:
        if slot >= len(self.rows):  # filling: slots come in order
            self.rows.append(row)
        else:
            self.rows[slot] = row

    def _uniform(self) -> float:
        """The next uniform in (0, 1] (its log is finite), from a block drawn at once: one numpy call per
        ``UNIFORM_BLOCK`` picks rather than per pick."""
        if not self.uniforms:
            self.uniforms[:] = self._block()
        return self.uniforms.pop()

    def _block(self) -> list[float]:
        """The next ``UNIFORM_BLOCK`` uniforms, last to be used first (they are popped)."""
        return (1.0 - self.rng.random(UNIFORM_BLOCK))[::-1].tolist()

    def _draw_weight(self) -> float:
        return math.exp(math.log(self._uniform()) / self.size)

    def _skip(self) -> int:
        if self.weight >= 1.0:
            return 1
        return math.floor(math.log(self._uniform()) / math.log(1.0 - self.weight)) + 1

    def to_state(self) -> dict[str, Any]:
        return {"number": self.number, "seen": self.seen, "rows": self.rows, "weight": self.weight,
                "next_pick": self.next_pick, "rng": self.rng.bit_generator.state, "uniforms": self.uniforms}

    @classmethod
    def from_state(cls, state: Mapping[str, Any], size: int, seed: int) -> Slice:
        s = cls(int(state["number"]), size, seed, int(state["seen"]), [list(r) for r in state["rows"]][:size],
                float(state["weight"]), state["next_pick"], [float(u) for u in state.get("uniforms", [])])
        s.rng.bit_generator.state = state["rng"]
        return s


class Window:
    """The last ``rows`` scored rows as a uniform sample of at most ``sample`` rows (see the module doc)."""

    def __init__(self, rows: int = 10_000, sample: int = 2_000, slices: int = 10, seed: int = 0) -> None:
        if rows < 1 or sample < 1 or slices < 1:
            raise ValueError("the window's rows, sample and slices must be positive")
        self.rows, self.sample_size, self.slices_kept, self.seed = rows, sample, slices, seed
        self.slice_rows = max(1, math.ceil(rows / slices))
        self.per_slice = max(1, min(self.slice_rows, sample // slices))
        self.slices: list[Slice] = []
        self.total_rows = 0  # every row ever added, restarts included

    @property
    def settings(self) -> dict[str, int]:
        return {"rows": self.rows, "sample": self.sample_size, "slices": self.slices_kept, "seed": self.seed}

    def add(self, count: int, row_at: Any) -> int:
        """``count`` new rows; ``row_at(positions)`` returns the rows at those positions of the batch, called
        only for the rows the reservoirs take. Returns how many were taken."""
        # The last pick of each slot wins: a row the same batch replaces again is never copied, so a batch
        # costs at most one reservoir's worth of rows, not Algorithm L's k·(1 + ln(n/k)) picks.
        # The slots keep the order of their first pick (a filling reservoir's slots in order).
        taken: list[tuple[Slice, dict[int, int]]] = []
        offset = 0
        while offset < count:
            current = self._current()
            n = min(count - offset, self.slice_rows - current.seen)
            slots = {slot: offset + pos for pos, slot in current.picks(n)}  # slot -> its last pick's position
            if slots:
                taken.append((current, slots))
            offset += n
        self.total_rows += count
        positions = [pos for _, slots in taken for pos in slots.values()]
        if positions:
            targets = [(slice_, slot) for slice_, slots in taken for slot in slots]
            for (slice_, slot), row in zip(targets, row_at(positions), strict=True):
                slice_.put(slot, row)
        return len(positions)

    def _current(self) -> Slice:
        if not self.slices or self.slices[-1].seen >= self.slice_rows:
            number = self.slices[-1].number + 1 if self.slices else 0
            self.slices.append(Slice(number, self.per_slice, self.seed))
            del self.slices[:-self.slices_kept]
        return self.slices[-1]

    @property
    def window_rows(self) -> int:
        """How many rows the window stands for now."""
        return sum(s.seen for s in self.slices)

    def _copy_deferred(self) -> None:
        """Every ``Deferred`` row made a row of plain values, those of one request together."""
        by_request: dict[tuple[int, int], list[tuple[list[Row | Deferred], int, Deferred]]] = {}
        for s in self.slices:
            for i, row in enumerate(s.rows):
                if isinstance(row, Deferred):
                    by_request.setdefault((id(row.inputs), id(row.outputs)), []).append((s.rows, i, row))
        for places in by_request.values():
            first = places[0][2]
            positions = [row.position for _, _, row in places]
            ins = rows_at(first.inputs, positions) if first.inputs else [{} for _ in positions]
            outs = rows_at(first.outputs, positions) if first.outputs else [{} for _ in positions]
            for (rows, i, _), values_in, values_out in zip(places, ins, outs, strict=True):
                rows[i] = [values_in, values_out]

    def sample(self) -> list[Row]:
        """The window's sample: full slices whole, a partly filled newest slice thinned to its share."""
        self._copy_deferred()
        out: list[Row] = []
        full = any(s.seen >= self.slice_rows for s in self.slices)
        for s in self.slices:
            if not full or s.seen >= self.slice_rows:
                out += s.rows
                continue
            share = round(self.per_slice * s.seen / self.slice_rows)
            if share >= len(s.rows):
                out += s.rows
            elif share > 0:
                keep = np.random.default_rng([self.seed, s.number, s.seen]).choice(len(s.rows), share, replace=False)
                out += [s.rows[i] for i in sorted(keep)]
        return out

    def to_state(self) -> dict[str, Any]:
        self._copy_deferred()
        return {"format": STATE_FORMAT, "settings": self.settings, "total_rows": self.total_rows,
                "slices": [s.to_state() for s in self.slices]}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Window:
        """The window saved by :meth:`to_state`; ``ValueError`` when it is not one."""
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"window state format {state.get('format')!r}, expected {STATE_FORMAT}")
        window = cls(**{k: int(v) for k, v in state["settings"].items()})
        window.total_rows = int(state["total_rows"])
        window.slices = [Slice.from_state(s, window.per_slice, window.seed) for s in state["slices"]]
        return window


# --- what a scoring call hands over, as columns --------------------------------------------------------


def as_columns(value: Any, default_name: str) -> tuple[dict[str, Any], int] | None:
    """A model input or output as ``({name: 1-D array-like}, rows)``, or None when it is not tabular.

    pandas frames and series, numpy arrays (1-D: one column named ``default_name``; 2-D: ``NAME_0`` …),
    lists, and dicts of equal-length columns, which is what MLflow's pyfunc models take and return."""
    kind = type(value).__name__
    if kind == "DataFrame" and hasattr(value, "items"):
        names = [str(c) for c in value.columns]
        if all(dtype.kind in "iuf" for dtype in value.dtypes):
            # One conversion, not one Series a column (a tenth of the cost of a one-row request's frame):
            # numbers are read as float64 by the statistics anyway.
            array = value.to_numpy(dtype=np.float64)
            return {name: array[:, i] for i, name in enumerate(names)}, len(value)
        return {name: column.to_numpy() for name, (_, column) in zip(names, value.items(), strict=True)}, len(value)
    if kind == "Series" and hasattr(value, "to_numpy"):
        return {str(value.name) if value.name is not None else default_name: value.to_numpy()}, len(value)
    if isinstance(value, Mapping):
        columns = {str(k): np.asarray(v) for k, v in value.items()}
        lengths = {len(v) if v.ndim else 1 for v in columns.values()}
        if len(lengths) != 1 or any(v.ndim != 1 for v in columns.values()):
            return None
        return columns, lengths.pop()
    if isinstance(value, (list, tuple, np.ndarray)):
        try:
            array = np.asarray(value)
        except ValueError:  # ragged
            return None
        if array.ndim == 1:
            return {default_name: array}, len(array)
        if array.ndim == 2:
            return {f"{default_name}_{i}": array[:, i] for i in range(array.shape[1])}, array.shape[0]
    return None


def rows_at(columns: Mapping[str, Any], positions: Sequence[int]) -> list[dict[str, Any]]:
    """The rows at ``positions`` as dicts of plain values (numpy's ``tolist``: Python numbers and text; NaN
    stays a float NaN, which the statistics count as missing)."""
    names = list(columns)
    picked = [_plain_list(np.asarray(columns[name])[list(positions)]) for name in names]
    return [dict(zip(names, values, strict=True)) for values in zip(*picked, strict=True)]


def _plain_list(values: np.ndarray) -> list[Any]:
    if values.dtype.kind in "biufU":
        return values.tolist()
    return [plain(v) for v in values]


def plain(value: Any) -> Any:
    """A JSON-able Python value: numbers stay numbers, missing values become None, anything else its text."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    return str(value)
