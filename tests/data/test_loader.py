"""InMemoryLoader: sharding over ranks, epochs, state round trip."""

from __future__ import annotations

import pytest
import torch

from ganforge.data import Dataset
from ganforge.data.loader import InMemoryLoader
from ganforge.errors import GanforgeError


def _dataset(n=40):
    data = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, 2, 2).contiguous()
    return Dataset("toy", data, labels=torch.arange(n))


def _ids(loader):
    return loader.next()["labels"].tolist()


def test_ranks_split_each_global_batch():
    single = InMemoryLoader(_dataset().fields(), batch_size=8, seed=3, device=torch.device("cpu"))
    r0 = InMemoryLoader(_dataset().fields(), batch_size=4, seed=3, device=torch.device("cpu"), rank=0, world_size=2)
    r1 = InMemoryLoader(_dataset().fields(), batch_size=4, seed=3, device=torch.device("cpu"), rank=1, world_size=2)
    for _ in range(7):  # crosses an epoch boundary (40 // 8 = 5 batches per epoch)
        whole, a, b = _ids(single), _ids(r0), _ids(r1)
        assert a + b == whole and not set(a) & set(b)


def test_epoch_is_a_permutation_and_images_are_scaled():
    loader = InMemoryLoader(_dataset().fields(), batch_size=8, seed=0, device=torch.device("cpu"))
    seen = []
    for _ in range(5):
        batch = loader.next()
        x, y = batch["real"], batch["labels"]
        assert x.dtype == torch.float32 and x.min() >= -1 and x.max() <= 1
        assert torch.allclose(x[:, 0, 0, 0], y.float() * 2 / 255 - 1)
        seen += y.tolist()
    assert sorted(seen) == list(range(40))
    assert loader.next()["labels"].tolist() != seen[:8]  # a new epoch has a new order


def test_state_round_trip_continues_identically():
    a = InMemoryLoader(_dataset().fields(), batch_size=8, seed=1, device=torch.device("cpu"))
    for _ in range(6):
        a.next()
    b = InMemoryLoader(_dataset().fields(), batch_size=8, seed=1, device=torch.device("cpu"))
    b.load_state_dict(a.state_dict())
    for _ in range(6):
        assert _ids(a) == _ids(b)


def test_dataset_smaller_than_a_batch_is_refused():
    with pytest.raises(GanforgeError, match="fewer than one batch"):
        InMemoryLoader(_dataset(10).fields(), batch_size=16, seed=0, device=torch.device("cpu"))


def test_fields_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match="same number of rows"):
        InMemoryLoader({"source": torch.zeros(8, 1, 4, 4, dtype=torch.uint8), "target": torch.zeros(7, 1, 4, 4, dtype=torch.uint8)},
                       batch_size=2, seed=0, device=torch.device("cpu"))


def test_paired_fields_stay_aligned_and_images_are_scaled():
    n = 16
    source = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, 2, 2).contiguous()
    loader = InMemoryLoader({"source": source, "target": source.clone()}, batch_size=4, seed=5, device=torch.device("cpu"))
    batch = loader.next()
    assert set(batch) == {"source", "target"} and batch["source"].dtype == torch.float32
    assert torch.equal(batch["source"], batch["target"])  # the same rows of both fields
    assert float(batch["source"].min()) >= -1.0 and float(batch["source"].max()) <= 1.0
