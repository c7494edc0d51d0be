"""Serve batches from an in-memory data set without per-step decoding or copying.

The order is a pure function of ``(seed, epoch)``, so the loader's whole state is two
integers; a resumed run continues with exactly the batches an uninterrupted one would
have seen. Under data parallelism every rank computes the same global permutation and
takes its own slice of each global batch.
"""

from __future__ import annotations

import torch

from ..errors import GanforgeError


class InMemoryLoader:
    """Batches of a data set's ``fields()``: a dict of tensors with one row per example.

    Every field is sliced with the same indices, so a batch keeps examples and their labels
    (or sources and targets) together. uint8 image fields (4-D) come out as float32 in
    [-1, 1]; other fields as they are.
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
    ) -> None:
        self.batch_size, self.seed, self.rank, self.world_size = batch_size, seed, rank, world_size
        self.global_batch = batch_size * world_size
        sizes = {len(v) for v in fields.values()}
        if len(sizes) != 1:
            raise ValueError(f"every field needs the same number of rows, got {({k: len(v) for k, v in fields.items()})}")
        self.length = sizes.pop()
        if self.length < self.global_batch:
            raise GanforgeError(
                f"the data set has {self.length} examples, fewer than one batch of {self.global_batch}; "
                "lower train.batch_size or add data"
            )
        # Small data sets live on the training device once: uint8 keeps them 4x smaller.
        self.fields = {k: v.to(device) for k, v in fields.items()}
        self.device = device
        self.epoch, self.position = 0, 0
        self._order = self._permutation(0)

    def _permutation(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.length, generator=g).to(self.device)

    def next(self) -> dict[str, torch.Tensor]:
        """This rank's share of the next global batch: ``{field: (B, ...)}``.

        Images come as float32 in [-1, 1], shape (B, C, H, W); vectors as float32 (B, D).
        """
        if self.position + self.global_batch > len(self._order):  # drop the ragged tail
            self.epoch, self.position = self.epoch + 1, 0
            self._order = self._permutation(self.epoch)
        start = self.position + self.rank * self.batch_size
        idx = self._order[start : start + self.batch_size]
        self.position += self.global_batch
        batch = {}
        for name, data in self.fields.items():
            x = data[idx]
            if x.dtype == torch.uint8 and x.dim() == 4:
                x = x.to(torch.float32).mul_(2.0 / 255.0).sub_(1.0)
            batch[name] = x
        return batch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self._order = self._permutation(self.epoch)
