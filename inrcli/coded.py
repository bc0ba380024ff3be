"""A quantised, entropy-coded model inside the safetensors container (format 4, docs/FORMAT.md).

Every weight tensor is quantised on a grid of its own (:mod:`inrcli.quantize`: its bits, offset
and step) and its integers are rANS-coded (:mod:`inrcli.entropy`) against a histogram stored in
the file. The tensors of the file:

* ``coded.prior`` U16: each weight tensor's histogram of the top ``h = min(bits, 4)`` bits of its
  integers (``2^h`` counts), in the order of ``inr.coding``'s tensor list;
* ``coded.shared`` U8: one chunk, every shared tensor's integers;
* ``coded.local`` U8 and ``coded.local_bytes`` I32 ``(S,)`` (partitioned models only): one chunk
  per slot — that partition's rows of every local tensor — concatenated in slot order, and each
  chunk's length. A crop keeps some chunks as they are: it removes exactly the other partitions'
  bytes (and their lengths).

Inside a chunk, tensor after tensor in the list's order (each local tensor's row of this slot),
its top bits (against its histogram) then, above 4 bits, its low bits (uniform).

A tensor the coding names as float (a first layer whose ω0 asks for more than 16 bits: audio's)
is stored beside them as an ordinary F32 tensor under its own name, local ones ``(S, …)`` as in
a float file (format 5).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from inrcli import entropy
from inrcli.errors import InrFileError
from inrcli.quantize import HIGH_BITS, MAX_BITS, MIN_BITS, Grid, join_symbols, split_symbols, tensor_bits

CODER = "rans32-categorical24"
PRIOR, SHARED, LOCAL, LOCAL_BYTES = "coded.prior", "coded.shared", "coded.local", "coded.local_bytes"
PARAMS_PER_CODED_BYTE = 64
"""A coded file may claim at most this many weights per byte of coded data (plus a few thousand):
a forged header cannot make a small file decode into a huge model (rANS decodes past its end)."""


def prior_size(bits: int) -> int:
    """Counts in the histogram of a tensor of ``bits``: one per value of its top bits."""
    return 1 << min(bits, HIGH_BITS)


@dataclass
class Coding:
    """How a model's weights are stored: the file's bit width, one grid and one histogram per tensor."""

    bits: int
    """The file's width (``--bits``); each grid has this or more (:func:`tensor_bits`)."""
    grids: dict[str, Grid]
    """Tensor name → its grid, in coding order."""
    priors: dict[str, np.ndarray]
    """Tensor name → counts of its top bits, ``(prior_size(grid.bits),)`` int64."""
    floats: tuple[str, ...] = ()
    """Tensors stored as float32, not coded (``inr.coding``'s ``float`` list)."""

    @classmethod
    def fit(cls, state: dict[str, np.ndarray], bits: int, roles) -> Coding:
        """Grids and histograms for ``state`` (name → float32 array, sine biases already in one
        period: ``quantize.storable_state``) in a file of ``bits``; ``roles``: ``models.tensor_roles``."""
        widths = {name: tensor_bits(bits, roles(name)) for name in state}
        grids = {name: Grid.fit(values, widths[name]) for name, values in state.items() if widths[name] is not None}
        priors = {name: entropy.histogram(split_symbols(grid.quantise(state[name]), grid.bits)[0],
                                          prior_size(grid.bits))
                  for name, grid in grids.items()}
        return cls(bits, grids, priors, tuple(name for name, width in widths.items() if width is None))

    def rounded(self, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``state`` as the file holds it: every coded weight moved to its grid (float32)."""
        return {name: self.grids[name].round(values) if name in self.grids else values
                for name, values in state.items()}

    def round_model(self, model) -> None:
        """Move ``model``'s weights (a torch module with these tensors) to their grids, in place."""
        import torch

        state = {name: tensor.detach().cpu().numpy() for name, tensor in model.state_dict().items()}
        model.load_state_dict({name: torch.from_numpy(values) for name, values in self.rounded(state).items()})

    def metadata(self) -> str:
        """The ``inr.coding`` metadata value."""
        fields = {"bits": self.bits, "coder": CODER,
                  "tensors": [[name, *grid.to_list()] for name, grid in self.grids.items()]}
        return json.dumps(fields | ({"float": list(self.floats)} if self.floats else {}))

    def pack(self, state: dict[str, np.ndarray], is_local: Callable[[str], bool]) -> dict[str, np.ndarray]:
        """The file's coded tensors for ``state`` (name → float32 array; local ones ``(S, …)``)."""
        quantised = {name: grid.quantise(state[name]) for name, grid in self.grids.items()}
        shared = {name: q for name, q in quantised.items() if not is_local(name)}
        local = {name: q for name, q in quantised.items() if is_local(name)}
        tensors = {PRIOR: np.concatenate([self.priors[name] for name in self.grids]).astype(np.uint16),
                   SHARED: _bytes(entropy.encode(self._parts(shared)))}
        tensors |= {name: np.ascontiguousarray(state[name], dtype=np.float32) for name in self.floats}
        if local:
            slots = next(iter(local.values())).shape[0]
            chunks = [entropy.encode(self._parts({name: q[s] for name, q in local.items()})) for s in range(slots)]
            tensors[LOCAL] = _bytes(b"".join(chunks))
            tensors[LOCAL_BYTES] = np.array([len(chunk) for chunk in chunks], dtype=np.int32)
        return tensors

    def _part_priors(self, name: str) -> list[np.ndarray]:
        """The counts each part of tensor ``name`` is coded with: its top bits' histogram, then
        (above 4 bits) a uniform prior over the low bits."""
        bits = self.grids[name].bits
        if bits <= HIGH_BITS:
            return [self.priors[name]]
        return [self.priors[name], np.ones(1 << (bits - HIGH_BITS), dtype=np.int64)]

    def _parts(self, arrays: dict[str, np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """One chunk's (symbols, counts) in coding order: each tensor's top bits, then its low bits."""
        parts = []
        for name, q in arrays.items():
            symbols = [part for part in split_symbols(q.ravel(), self.grids[name].bits) if part is not None]
            parts += list(zip(symbols, self._part_priors(name)))
        return parts

    def unpack(self, tensors: dict[str, np.ndarray], shapes: dict[str, tuple[int, ...]],
               is_local: Callable[[str], bool]) -> dict[str, np.ndarray]:
        """The float32 weights (name → array of its ``shapes`` entry) from the file's coded tensors
        and its float ones (their shapes and dtype checked by the caller)."""
        shared = {name: int(np.prod(shapes[name])) for name in self.grids if not is_local(name)}
        local = {name: int(np.prod(shapes[name][1:])) for name in self.grids if is_local(name)}
        state = self._decode_chunk(tensors[SHARED].tobytes(), shared)
        if local:
            lengths = tensors[LOCAL_BYTES].astype(np.int64)
            data = tensors[LOCAL].tobytes()
            if lengths.min(initial=0) < 0 or lengths.sum() != len(data):
                raise InrFileError("coded partition lengths do not add up to the coded partitions' bytes")
            starts = np.concatenate([[0], np.cumsum(lengths)])
            rows = [self._decode_chunk(data[starts[s]:starts[s + 1]], local) for s in range(len(lengths))]
            state |= {name: np.stack([row[name] for row in rows]) if rows else np.zeros((0,), np.float32)
                      for name in local}
        return {name: state[name].reshape(shapes[name]) for name in self.grids} | {name: tensors[name] for name in self.floats}

    def _decode_chunk(self, data: bytes, sizes: dict[str, int]) -> dict[str, np.ndarray]:
        """One chunk's bytes → float32 weights (name → flat array of ``sizes[name]``)."""
        layout = [(size, counts) for name, size in sizes.items() for counts in self._part_priors(name)]
        try:
            symbols = iter(entropy.decode(data, layout))
        except entropy.ChunkError as exc:
            raise InrFileError(str(exc)) from None
        out = {}
        for name in sizes:
            grid = self.grids[name]
            high = next(symbols)
            low = next(symbols) if grid.bits > HIGH_BITS else None
            out[name] = grid.dequantise(join_symbols(high, low, grid.bits))
        return out


def parse_metadata(text: str) -> tuple[int, dict[str, Grid], tuple[str, ...]]:
    """The bit width, grids (tensor name → grid, in coding order) and float tensors' names from
    ``inr.coding``, checked."""
    try:
        data = json.loads(text)
        bits, coder, rows = data["bits"], data["coder"], data["tensors"]
        grids = {str(name): Grid.from_list([width, offset, step]) for name, width, offset, step in rows}
        widths = [width for _, width, _, _ in rows]
        floats = data.get("float", [])
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for row in rows for v in row[2:]):
            raise TypeError
        if not (isinstance(floats, list) and all(isinstance(name, str) for name in floats)):
            raise TypeError
    except (ValueError, TypeError, KeyError, AttributeError):
        raise InrFileError("metadata 'inr.coding' is malformed") from None
    if not all(isinstance(b, int) and MIN_BITS <= b <= MAX_BITS for b in [bits, *widths]):
        raise InrFileError(f"coded weights of {bits!r} bits (inr reads {MIN_BITS}–{MAX_BITS})")
    if coder != CODER:
        raise InrFileError(f"unknown coder {coder!r}")
    if len(rows) != len(grids) or len(set(floats)) != len(floats) or set(floats) & set(grids):
        raise InrFileError("metadata 'inr.coding' names a tensor twice")
    for grid in grids.values():
        if not (np.isfinite([grid.offset, grid.step]).all() and 0 < grid.step and abs(grid.offset) <= 1e4
                and grid.step * (2 ** grid.bits - 1) <= 2e4):
            raise InrFileError("a coded tensor's grid is not finite float32 numbers within the weight limits")
    return bits, grids, tuple(floats)


def check_names(grids: dict[str, Grid], floats: tuple[str, ...], names: list[str]) -> None:
    """Refuse a coding whose coded and float tensors are not exactly the model's (``names``)."""
    if set(grids) | set(floats) != set(names):
        raise InrFileError("the coded tensors are not the model's tensors")


def expected_entries(grids: dict[str, Grid], slots: int | None, float_shapes: dict[str, tuple[int, ...]]
                     ) -> dict[str, tuple[tuple[int, ...] | None, str]]:
    """The tensors a coded file must hold: name → (shape, or None for any length, dtype);
    ``float_shapes``: the model's shape of each tensor stored as float32."""
    entries = {PRIOR: ((sum(prior_size(grid.bits) for grid in grids.values()),), "U16"), SHARED: (None, "U8")}
    if slots is not None:
        entries |= {LOCAL: (None, "U8"), LOCAL_BYTES: ((slots,), "I32")}
    return entries | {name: (shape, "F32") for name, shape in float_shapes.items()}


def priors_from(array: np.ndarray, grids: dict[str, Grid]) -> dict[str, np.ndarray]:
    """Each tensor's histogram from the ``coded.prior`` array (checked: every total positive)."""
    ends = np.cumsum([prior_size(grid.bits) for grid in grids.values()])
    priors = {name: array[end - prior_size(grid.bits):end].astype(np.int64)
              for (name, grid), end in zip(grids.items(), ends)}
    if any(counts.sum() <= 0 for counts in priors.values()):
        raise InrFileError("a coded tensor's histogram is empty")
    return priors


def check_claim(params: int, coded_bytes: int) -> None:
    """Refuse a header whose model is far larger than its coded bytes could hold."""
    if params > PARAMS_PER_CODED_BYTE * coded_bytes + 4096:
        raise InrFileError(f"the header claims {params:,} weights in {coded_bytes:,} coded bytes")


def _bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.uint8).copy()
