"""Stacked Fashion-MNIST: channels are real Fashion-MNIST images, labels are their class triples."""

from __future__ import annotations

import pytest
import torch

from ganforge.config import DataConfig
from ganforge.data import FASHION_CLASSES, build_dataset
from ganforge.data.stacked import STACKED_MODES, mode_index, stacked_mode_names
from ganforge.errors import GanforgeError

from .test_fashion import write_fake_fashion


def test_channels_are_source_images_and_labels_their_classes(tmp_path):
    images, labels = write_fake_fashion(tmp_path / "fm", n=10)
    ds = build_dataset(DataConfig(dataset="stacked-fashion-mnist", path=str(tmp_path / "fm"), resolution=28,
                                  channels=3, limit=200))
    assert ds.data.shape == (200, 3, 28, 28) and ds.data.dtype == torch.uint8
    assert len(ds.class_names) == STACKED_MODES == 1000
    src = torch.from_numpy(images)
    for i in range(200):
        triple = []
        for c in range(3):
            # Each channel is exactly one of the source images; find which.
            match = [j for j in range(len(src)) if torch.equal(ds.data[i, c], src[j])]
            assert len(match) == 1
            triple.append(int(labels[match[0]]))
        assert int(ds.labels[i]) == 100 * triple[0] + 10 * triple[1] + triple[2]
        assert ds.class_names[int(ds.labels[i])] == "/".join(FASHION_CLASSES[t] for t in triple)
    # Fixed composition per split: building it again gives the same images.
    again = build_dataset(DataConfig(dataset="stacked-fashion-mnist", path=str(tmp_path / "fm"), resolution=28,
                                     channels=3, limit=200))
    assert torch.equal(again.data, ds.data)
    # With 10 distinct source images, 200 draws of triples hit many different modes.
    assert len(set(ds.labels.tolist())) > 150


def test_mode_index_and_names():
    triples = torch.tensor([[0, 0, 0], [9, 9, 9], [8, 7, 1]])
    assert mode_index(triples).tolist() == [0, 999, 871]
    names = stacked_mode_names()
    assert names[871] == "bag/sneaker/trouser" and len(set(names)) == 1000


def test_needs_three_channels(tmp_path):
    write_fake_fashion(tmp_path / "fm")
    with pytest.raises(GanforgeError, match="data.channels=3"):
        build_dataset(DataConfig(dataset="stacked-fashion-mnist", path=str(tmp_path / "fm"), channels=1))
