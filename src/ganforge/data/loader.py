"""Serve batches from an in-memory data set without per-step decoding or copying.

The order is a pure function of ``(seed, epoch)``, so the loader's whole state is two
integers per index stream; a resumed run continues with exactly the batches an uninterrupted
one would have seen. Under data parallelism every rank computes the same global permutation and
takes its own slice of each global batch.
"""

from __future__ import annotations

import torch

from ..errors import GanforgeError

# Index stream k > 0 offsets its permutation seeds by k * this, far from stream 0's
# ``seed * 1_000_003 + epoch``, so two streams never share an order.
_STREAM_SEED_STRIDE = 2**40


class _Stream:
    """One index order over ``length`` rows: the permutation of the current epoch and the position in it."""

    def __init__(self, length: int, seed: int, device: torch.device) -> None:
        self.length, self.seed, self.device = length, seed, device
        self.epoch, self.position = 0, 0
        self.order = self.permutation(0)

    def permutation(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed + epoch)
        return torch.randperm(self.length, generator=g).to(self.device)

    def take(self, global_batch: int, start: int, size: int) -> torch.Tensor:
        """Rows ``start .. start + size`` of the next global batch (the ragged tail is dropped)."""
        if self.position + global_batch > len(self.order):
            self.epoch, self.position = self.epoch + 1, 0
            self.order = self.permutation(self.epoch)
        idx = self.order[self.position + start : self.position + start + size]
        self.position += global_batch
        return idx

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}

    def load(self, state: dict[str, int]) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self.order = self.permutation(self.epoch)


class InMemoryLoader:
    """Batches of a data set's ``fields()``: a dict of tensors with one row per example.

    Fields in one group are sliced with the same indices, so a batch keeps examples and their
    labels (or sources and targets) together. ``groups`` (the data set's ``field_groups()``)
    lists groups of field names that each get their own, independent order, e.g. the two
    image sets of unpaired data (``[("a",), ("b",)]``); None: all fields in one group. uint8
    image fields (4-D) come out as float32 in [-1, 1]; other fields as they are.
    """

    def __init__(
        self,
        fields: dict[str, torch.Tensor],
        *,
        batch_size: int,  # per rank
        seed: int,
        device: torch.device,
        rank: int = 0,
        world_size: int = 1,
        groups: list[tuple[str, ...]] | None = None,  # field names sliced together; None: all fields
    ) -> None:
        self.batch_size, self.seed, self.rank, self.world_size = batch_size, seed, rank, world_size
        self.global_batch = batch_size * world_size
        self.groups = [tuple(fields)] if groups is None else [tuple(g) for g in groups]
        if sorted(n for g in self.groups for n in g) != sorted(fields):
            raise ValueError(f"groups {self.groups} must name every field of {sorted(fields)} exactly once")
        self.streams = []
        for k, group in enumerate(self.groups):
            sizes = {len(fields[n]) for n in group}
            if len(sizes) != 1:
                raise ValueError(f"every field needs the same number of rows, got {({n: len(fields[n]) for n in group})}")
            length = sizes.pop()
            if length < self.global_batch:
                what = "examples" if len(self.groups) == 1 else f"examples in {'/'.join(group)}"
                raise GanforgeError(
                    f"the data set has {length} {what}, fewer than one batch of {self.global_batch}; "
                    "lower train.batch_size or add data"
                )
            self.streams.append(_Stream(length, seed * 1_000_003 + k * _STREAM_SEED_STRIDE, device))
        self.length = self.streams[0].length
        # Small data sets live on the training device once: uint8 keeps them 4x smaller.
        self.fields = {k: v.to(device) for k, v in fields.items()}
        self.device = device

    @property
    def epoch(self) -> int:
        return self.streams[0].epoch

    @property
    def position(self) -> int:
        return self.streams[0].position

    def next(self) -> dict[str, torch.Tensor]:
        """This rank's share of the next global batch: ``{field: (B, ...)}``.

        Images come as float32 in [-1, 1], shape (B, C, H, W); vectors as float32 (B, D).
        """
        batch = {}
        for group, stream in zip(self.groups, self.streams):
            idx = stream.take(self.global_batch, self.rank * self.batch_size, self.batch_size)
            for name in group:
                x = self.fields[name][idx]
                if x.dtype == torch.uint8 and x.dim() == 4:
                    x = x.to(torch.float32).mul_(2.0 / 255.0).sub_(1.0)
                batch[name] = x
        return batch

    def state_dict(self) -> dict:
        """``{"epoch", "position"}`` (one group, as before groups existed), or ``{"streams": [...]}``."""
        if len(self.streams) == 1:
            return self.streams[0].state()
        return {"streams": [s.state() for s in self.streams]}

    def load_state_dict(self, state: dict) -> None:
        states = state["streams"] if "streams" in state else [state]
        if len(states) != len(self.streams):
            raise ValueError(f"loader state has {len(states)} index streams, this data has {len(self.streams)}")
        for stream, s in zip(self.streams, states):
            stream.load(s)
