"""runtime.py's measuring of a network's memory (what the studio's job estimates scale)."""

from __future__ import annotations

import torch
from torch import nn

from ganforge.runtime import peak_tensor_bytes


def test_peak_tensor_bytes_counts_what_is_alive_at_once():
    x = torch.zeros(1000, 250)  # 1 MB, the caller's: not counted

    def two_live(t):
        a = t * 2  # 1 MB
        b = a + 1  # 1 MB, while a still lives
        return b.sum()

    def one_at_a_time(t):
        return (t * 2).sum() + (t + 1).sum()  # each temporary dies before the next is made

    assert peak_tensor_bytes(two_live, x) >= 2_000_000
    assert peak_tensor_bytes(one_at_a_time, x) < 1_100_000


def test_peak_tensor_bytes_of_a_convolution_grows_with_the_pixels():
    net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 3, 3, padding=1)).eval()
    small = peak_tensor_bytes(net, torch.zeros(1, 3, 32, 32))
    large = peak_tensor_bytes(net, torch.zeros(1, 3, 64, 64))
    assert small >= 32 * 32 * 16 * 4  # the 16-channel activation at least
    assert 3.5 < large / small < 4.5  # four times the pixels
