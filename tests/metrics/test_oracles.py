"""Class oracles: named by a data set's spec, run from metrics/oracles.py."""

from __future__ import annotations

import pytest
import torch

from ganforge.data import DATASETS
from ganforge.data.fashion import load_fashion_mnist
from ganforge.data.toy import toy_mixture
from ganforge.data.transforms import resize_uint8
from ganforge.errors import GanforgeError
from ganforge.metrics.oracles import ORACLES, class_oracle

from .conftest import needs_fashion


def test_every_data_set_names_a_registered_oracle_or_none():
    named = {name: DATASETS.get(name).oracle for name in DATASETS.names()}
    assert named["fashion-mnist"] == "fashion-cnn" and named["ring8"] == named["grid25"] == "nearest-mode"
    assert all(o is None or o in ORACLES for o in named.values()), named
    assert named["folder"] is None and class_oracle(DATASETS.get("folder"), (3, 32, 32)) is None


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_the_nearest_mode_oracle_finds_each_mode(name):
    means = toy_mixture(name)[0]
    oracle = class_oracle(DATASETS.get(name), (2,))
    labels, k = oracle(means.flip(0) + 0.01)
    assert k == len(means) and labels.tolist() == list(range(len(means)))[::-1]


@needs_fashion
def test_the_fashion_oracle_reads_real_images_and_only_grey_ones():
    spec = DATASETS.get("fashion-mnist")
    assert class_oracle(spec, (3, 32, 32)) is None  # it was trained on one channel
    images, labels = load_fashion_mnist("test")
    x = resize_uint8(images[:200].unsqueeze(1), 32).float().mul(2 / 255).sub(1)  # as a generator makes them
    predicted, k = class_oracle(spec, (1, 32, 32))(x)
    assert k == 10 and predicted.shape == (200,) and predicted.dtype == torch.int64
    assert (predicted == labels[:200]).float().mean() > 0.85


def test_an_unknown_oracle_name_is_a_one_line_error():
    spec = DATASETS.get("ring8")
    with pytest.raises(GanforgeError, match="class oracle"):
        class_oracle(type(spec)(name="x", build=spec.build, oracle="nearest-mod"), (2,))
