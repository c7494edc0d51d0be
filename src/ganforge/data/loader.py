"""Serve batches from an in-memory data set without per-step decoding or copying.

The order is a pure function of ``(seed, epoch)``, so the loader's whole state is two
integers; a resumed run continues with exactly the batches an uninterrupted one would
have seen. Under data parallelism every rank computes the same global permutation and
takes its own slice of each global batch.
"""

from __future__ import annotations

import torch

from . import Dataset


class InMemoryLoader:
    def __init__(
        self,
        dataset: Dataset,
        *,
        batch_size: int,  # per rank
        seed: int,
        device: torch.device,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.batch_size, self.seed, self.rank, self.world_size = batch_size, seed, rank, world_size
        self.global_batch = batch_size * world_size
        if len(dataset) < self.global_batch:
            from ..errors import GanforgeError

            raise GanforgeError(
                f"the data set has {len(dataset)} examples, fewer than one batch of {self.global_batch}; "
                "lower train.batch_size or add data"
            )
        self.is_image = dataset.kind == "image"
        # Small data sets live on the training device once: uint8 keeps them 4x smaller.
        self.data = dataset.data.to(device)
        self.labels = None if dataset.labels is None else dataset.labels.to(device)
        self.epoch, self.position = 0, 0
        self._order = self._permutation(0)

    def _permutation(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(len(self.data), generator=g).to(self.data.device)

    def next(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """This rank's share of the next global batch: ``(x, labels)``.

        Images come as float32 in [-1, 1], shape (B, C, H, W); vectors as float32 (B, D).
        """
        if self.position + self.global_batch > len(self._order):  # drop the ragged tail
            self.epoch, self.position = self.epoch + 1, 0
            self._order = self._permutation(self.epoch)
        start = self.position + self.rank * self.batch_size
        idx = self._order[start : start + self.batch_size]
        self.position += self.global_batch
        x = self.data[idx]
        if self.is_image:
            x = x.to(torch.float32).mul_(2.0 / 255.0).sub_(1.0)
        return x, None if self.labels is None else self.labels[idx]

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self._order = self._permutation(self.epoch)
