"""Tiled inference against the untiled run: parity with a stated tolerance, one-piece identity,
odd shapes, the memory bound and bad arguments.

Parity: small random conv nets (receptive-field radius r in input pixels) tiled at 64 px with
``3/8 overlap >= r`` (the module's exactness rule) give uint8 outputs within 1 of the untiled
ones; with too little overlap the difference is far larger, which shows the parity test can fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganforge.images import to_uint8
from ganforge.tiling import axis_weights, run_tiled, tile_grid, tiled_bytes

pytestmark = pytest.mark.usefixtures("one_thread")

PARITY_TOLERANCE = 1  # uint8 units: float summation order differs between tile and whole-image convolutions


class ConvNet(nn.Module):
    """``layers`` 3x3 convs with LeakyReLU and zero padding, then a 3x3 conv and a pixel-shuffle head.

    With ``unshuffle`` the input is pixel-unshuffled by 2 first (so tiles need align=2) and the
    head shuffles by 4: x2 overall either way. Kaiming weights keep the signal, so the zero
    padding at a tile's inner edge really changes the output there.
    Receptive-field radius in input pixels: ``layers + 1``, doubled with ``unshuffle``.
    """

    def __init__(self, *, in_channels: int, out_channels: int, scale: int = 2, layers: int = 6, width: int = 8,
                 unshuffle: bool = False, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.unshuffle = unshuffle
        self.shuffle = scale * 2 if unshuffle else scale
        first = in_channels * 4 if unshuffle else in_channels
        self.convs = nn.ModuleList(nn.Conv2d(first if i == 0 else width, width, 3, padding=1) for i in range(layers))
        self.head = nn.Conv2d(width, out_channels * self.shuffle ** 2, 3, padding=1)
        for conv in [*self.convs, self.head]:
            nn.init.kaiming_normal_(conv.weight, a=0.2)
            nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.unshuffle:
            x = F.pixel_unshuffle(x, 2)
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.2)
        return 0.5 * F.pixel_shuffle(self.head(x), self.shuffle)  # 0.5: output mostly inside [-1, 1]


def smooth_noisy_image(height: int, width: int, channels: int, seed: int = 0) -> np.ndarray:
    """uint8 (H, W, C): smooth waves plus noise, so both structure and texture cross the tile edges."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    waves = 60 * np.sin(yy / 17.0)[..., None] * np.cos(xx[..., None] / 23.0 + np.arange(channels))
    return np.clip(127 + waves + rng.normal(0, 30, (height, width, channels)), 0, 255).astype(np.uint8)


def untiled(fn, image: np.ndarray, align: int = 1) -> np.ndarray:
    """The reference: ``fn`` on the whole image (mirrored to a multiple of align), through to_uint8."""
    h, w = image.shape[:2]
    padded = np.pad(image, ((0, -h % align), (0, -w % align), (0, 0)), mode="reflect")  # no edge repeat
    x = torch.from_numpy(padded).permute(2, 0, 1)[None].float().mul(2.0 / 255.0).sub(1.0)
    with torch.no_grad():
        out = to_uint8(fn(x))[0]
    scale = out.shape[0] // padded.shape[0]
    return out[:h * scale, :w * scale]


def max_diff(a: np.ndarray, b: np.ndarray) -> int:
    assert a.shape == b.shape and a.dtype == b.dtype == np.uint8
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


# ------------------------------------------------------------------------------ parity
@pytest.mark.parametrize("unshuffle", [False, True], ids=["plain", "unshuffle2"])
def test_tiled_equals_untiled_with_enough_overlap_and_not_without(unshuffle):
    # r = 7 (plain: 6 convs + head) or 2 * (2 + 1) = 6 (unshuffled): 3/8 of overlap 16 covers 6, and
    # the plain net's 7 is where "within 1" starts (16 >= 2 r); with overlap 2 the seams show.
    net = ConvNet(in_channels=3, out_channels=3, layers=2 if unshuffle else 6, unshuffle=unshuffle)
    align = 2 if unshuffle else 1
    image = smooth_noisy_image(301, 259, 3)  # odd sizes: 5 x 5 tiles, mirrored to even with align=2
    reference = untiled(net, image, align)
    calls = []
    tiled = run_tiled(net, image, scale=2, out_channels=3, tile=64, overlap=16, align=align,
                      progress=lambda done, total: calls.append((done, total)))
    assert max_diff(tiled, reference) <= PARITY_TOLERANCE
    assert len(calls) >= 16 and calls[-1] == (len(calls), len(calls))  # many tiles, each reported
    short = run_tiled(net, image, scale=2, out_channels=3, tile=64, overlap=2, align=align)
    assert max_diff(short, reference) > 4 * PARITY_TOLERANCE  # the test has teeth: seams show without overlap


def test_one_piece_is_bit_identical_to_the_untiled_conversion():
    net = ConvNet(in_channels=3, out_channels=3, layers=2)
    image = smooth_noisy_image(37, 50, 3)
    reference = untiled(net, image)
    for tile in (None, 50, 64):  # None, the image's longer side, more than the image
        assert np.array_equal(run_tiled(net, image, scale=2, out_channels=3, tile=tile, overlap=4), reference)


def test_one_piece_with_align_mirrors_and_crops():
    net = ConvNet(in_channels=3, out_channels=3, layers=2, unshuffle=True)
    image = smooth_noisy_image(21, 15, 3)
    out = run_tiled(net, image, scale=2, out_channels=3, tile=None, overlap=0, align=2)
    assert np.array_equal(out, untiled(net, image, align=2))


# ------------------------------------------------------------------------------ shapes
@pytest.mark.parametrize(("height", "width", "channels", "out_channels", "scale"), [
    (1, 97, 3, 3, 2),    # one pixel tall
    (83, 1, 1, 2, 4),    # one pixel wide, grey in, 2 channels out
    (45, 71, 1, 1, 1),   # grey, same size
    (33, 40, 3, 2, 4),
])
def test_odd_shapes_channels_and_scales(height, width, channels, out_channels, scale):
    net = ConvNet(in_channels=channels, out_channels=out_channels, scale=scale, layers=2)  # r = 3
    image = smooth_noisy_image(height, width, channels, seed=height)
    out = run_tiled(net, image, scale=scale, out_channels=out_channels, tile=20, overlap=8)  # 3/8 of 8 covers r
    assert out.shape == (height * scale, width * scale, out_channels) and out.dtype == np.uint8
    assert max_diff(out, untiled(net, image)) <= PARITY_TOLERANCE


def test_odd_shape_with_align_two():
    net = ConvNet(in_channels=3, out_channels=3, layers=1, unshuffle=True)  # r = 4
    image = smooth_noisy_image(1, 45, 3)
    out = run_tiled(net, image, scale=2, out_channels=3, tile=20, overlap=8, align=2)
    assert out.shape == (2, 90, 3)
    assert max_diff(out, untiled(net, image, align=2)) <= PARITY_TOLERANCE


def test_tile_grid_covers_the_axis_with_the_overlap():
    for size, tile, overlap, align in [(301, 64, 16, 1), (300, 64, 16, 2), (65, 64, 8, 1), (1000, 128, 31, 4)]:
        origins = tile_grid(size, tile, overlap, align)
        assert origins[0] == 0 and origins[-1] == size - tile
        assert all(o % align == 0 for o in origins)
        assert all(0 < b - a <= tile - overlap for a, b in zip(origins, origins[1:]))
    assert tile_grid(50, 64, 8) == [0]
    assert tile_grid(64, 64, 8) == [0]


def test_weights_are_a_partition_of_unity_and_zero_at_inner_edges():
    origins, tile, scale = tile_grid(301, 64, 16), 64, 2
    weights = axis_weights(origins, tile, scale)
    total = np.zeros(301 * scale)
    for o, w in zip(origins, weights):
        total[o * scale:(o + tile) * scale] += w
    np.testing.assert_allclose(total, 1.0, atol=1e-6)
    assert weights[0][0] == 1 and weights[-1][-1] == 1  # the image border is not a seam
    # A band is >= 16 input pixels: at least its outer quarter next to an inner edge is dropped.
    assert np.all(weights[1][:16 * scale // 4] == 0) and np.all(weights[1][-16 * scale // 4:] == 0)


# ------------------------------------------------------------------------------ memory
MEMORY_SCRIPT = textwrap.dedent("""
    import resource
    import numpy as np, torch, torch.nn.functional as F
    from ganforge.tiling import run_tiled
    torch.set_num_threads(1)
    fn = lambda x: F.interpolate(x, scale_factor=2, mode="nearest")
    run_tiled(fn, np.zeros((64, 64, 3), np.uint8), scale=2, out_channels=3, tile=32, overlap=8)  # warm up
    image = np.random.default_rng(0).integers(0, 256, (2000, 3000, 3), dtype=np.uint8)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out = run_tiled(fn, image, scale=2, out_channels=3, tile=256, overlap=16)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert out.shape == (4000, 6000, 3) and np.array_equal(out[::2, ::2], image)
    print(peak - before - out.nbytes)
""")


@pytest.mark.slow  # a subprocess, so that the peak RSS is this run's alone
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss is in KiB on Linux only")
def test_peak_memory_is_bounded_by_the_tile_not_the_image():
    proc = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    extra = int(proc.stdout.strip().splitlines()[-1])
    whole_image_float = 4000 * 6000 * 3 * 4  # one float32 accumulator for the whole output: 288 MB
    assert extra < whole_image_float / 3, f"peak RSS beyond input and output: {extra / 2**20:.0f} MiB"


# ------------------------------------------------------------------------------ bad arguments
@pytest.mark.parametrize(("kwargs", "message"), [
    ({"tile": 32, "overlap": 16}, "larger than twice the overlap"),
    ({"tile": 33, "overlap": 4, "align": 2}, "multiple of align"),
    ({"tile": 0, "overlap": 0}, "positive number"),
    ({"tile": 32, "overlap": -1}, "overlap must be >= 0"),
    ({"tile": 32, "overlap": 4, "align": 0}, "align must be a positive"),
    ({"tile": 4, "overlap": 1, "align": 4}, "minus overlap"),
    ({"tile": 32, "overlap": 4, "scale": 0}, "scale and out_channels"),
])
def test_bad_settings_are_value_errors(kwargs, message):
    args = {"scale": 1, "out_channels": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        run_tiled(lambda x: x, np.zeros((40, 40, 3), np.uint8), **args)


@pytest.mark.parametrize("image", [np.zeros((8, 8), np.uint8), np.zeros((8, 8, 3), np.float32),
                                   np.zeros((0, 8, 3), np.uint8)], ids=["2d", "float", "empty"])
def test_bad_images_are_value_errors(image):
    with pytest.raises(ValueError, match="expected a uint8 array"):
        run_tiled(lambda x: x, image, scale=1, out_channels=3, tile=None, overlap=0)


def test_a_model_of_the_wrong_scale_is_a_value_error():
    with pytest.raises(ValueError, match="check scale and out_channels"):
        run_tiled(lambda x: x, np.zeros((40, 40, 3), np.uint8), scale=2, out_channels=3, tile=16, overlap=4)


@pytest.mark.parametrize(("tile", "scale"), [(64, 2), (96, 1), (None, 2)])
def test_tiled_bytes_covers_what_run_tiled_allocates(tile, scale):
    """The figure the studio's memory estimate uses, against numpy's allocations as tracemalloc
    sees them (the strip, the tiles' copies, the weights; the uint8 output is the caller's)."""
    import tracemalloc

    height, width = 200, 300
    image = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)

    def fn(x):
        return F.interpolate(x, scale_factor=scale, mode="nearest") if scale > 1 else x.clone()

    buffers, tile_pixels = tiled_bytes(height, width, scale=scale, in_channels=3, out_channels=3, tile=tile)
    tracemalloc.start()
    try:
        run_tiled(fn, image, scale=scale, out_channels=3, tile=tile, overlap=16)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    out = height * scale * width * scale * 3
    assert peak - out <= buffers, (peak - out, buffers)
    if tile is not None:
        strip = tile * scale * width * scale * 3 * 4
        assert buffers < 2 * strip and peak - out >= strip  # the strip is the bulk, and it is there
        assert tile_pixels == tile * tile
    else:
        assert tile_pixels == height * width
