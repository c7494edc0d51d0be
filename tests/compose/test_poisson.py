"""compose/poisson.py: the fast solver against the plain-CG reference, the DST inverse, and OpenCV (when installed)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganforge.compose.poisson import LaplacianInverse, PoissonSystem, _dst1, _shift, solve, solve_reference

pytestmark = pytest.mark.usefixtures("one_thread")

PARITY_TOL = 1e-3  # on 0..1 values: well under one level of 255


def ellipse(h: int, w: int) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return ((yy - h / 2) / (0.35 * h)) ** 2 + ((xx - w / 2) / (0.3 * w)) ** 2 < 1


def pictures(h: int, w: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    source = torch.rand(3, h, w, generator=gen) * 0.3 + torch.linspace(0, 0.6, w)
    target = torch.rand(3, h, w, generator=gen) * 0.1 + torch.linspace(0.8, 0.2, h)[:, None]
    return source, target


def test_dst1_is_the_sine_transform():
    n = 7
    x = torch.randn(2, 5, n, dtype=torch.float64)
    basis = torch.tensor([[math.sin(math.pi * (k + 1) * (m + 1) / (n + 1)) for m in range(n)] for k in range(n)],
                         dtype=torch.float64)
    assert torch.allclose(_dst1(x), x @ basis.T, atol=1e-12)


@pytest.mark.parametrize("fast", [False, True])
def test_laplacian_inverse_inverts_the_five_point_laplacian(fast):
    h, w = 13, 10  # 14 and 11: not quick FFT lengths, so fast enlarges the rectangle
    u = torch.randn(2, h, w, dtype=torch.float64)
    lap = 4 * u - sum(_shift(u, dy, dx) for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)))
    inverse = LaplacianInverse(h, w, torch.float64, fast=fast)
    if fast:
        assert (inverse.ph, inverse.pw) != (h, w)
        # the exact inverse of a larger rectangle: a preconditioner, not this rectangle's inverse
        assert not torch.allclose(inverse(lap), u, atol=1e-6)
    else:
        assert torch.allclose(inverse(lap), u, atol=1e-10)


@pytest.mark.parametrize("guidance", ["normal", "mixed"])
@pytest.mark.parametrize("shape", [(24, 30), (61, 47)])
def test_fast_solver_matches_the_reference(guidance, shape):
    source, target = pictures(*shape)
    mask = ellipse(*shape)
    fast, slow = solve(source, target, mask, guidance), solve_reference(source, target, mask, guidance)
    assert (fast - slow).abs().max() < PARITY_TOL
    assert torch.equal(fast[:, ~mask], target[:, ~mask])  # outside the footprint: the target, exactly


def test_the_solution_satisfies_the_poisson_equation_and_meets_the_boundary():
    source, target = pictures(40, 40, seed=3)
    smooth = torch.linspace(0.1, 0.4, 40).expand(3, 40, 40).contiguous()  # far from the target, few gradients
    mask = ellipse(40, 40)
    f = solve(source, target, mask, tolerance=1e-7).double()
    system = PoissonSystem(source.double(), target.double(), mask)
    residual = (system.apply(f * mask) - system.b)[:, mask]
    assert residual.abs().max() < 1e-4
    # next to the boundary the result is close to the background, however far the source is from it
    ring = mask & ~(_shift(mask.double(), 1, 0).bool() & _shift(mask.double(), -1, 0).bool()
                    & _shift(mask.double(), 0, 1).bool() & _shift(mask.double(), 0, -1).bool())
    g = solve(smooth, target, mask)
    gap_before = (smooth - target)[:, ring].abs().mean()
    gap_after = (g - target)[:, ring].abs().mean()
    assert gap_after < 0.25 * gap_before


def test_a_footprint_at_the_edge_is_solved_with_an_open_edge():
    source, target = pictures(30, 30, seed=1)
    mask = torch.zeros(30, 30, dtype=torch.bool)
    mask[10:, 5:25] = True  # reaches the bottom edge
    fast, slow = solve(source, target, mask), solve_reference(source, target, mask)
    assert (fast - slow).abs().max() < PARITY_TOL


def test_a_footprint_with_no_boundary_keeps_the_source():
    source, target = pictures(10, 12)
    mask = torch.ones(10, 12, dtype=torch.bool)
    assert torch.equal(solve(source, target, mask), source)


def test_normal_guidance_with_a_constant_source_gives_the_harmonic_membrane():
    """Gradients of zero: f is harmonic inside, so it stays within the boundary's range (maximum principle)."""
    _, target = pictures(32, 32, seed=2)
    mask = ellipse(32, 32)
    f = solve(torch.full_like(target, 0.9), target, mask)
    boundary = target[:, ~mask]
    assert f[:, mask].max() <= boundary.max() + 1e-3 and f[:, mask].min() >= boundary.min() - 1e-3


def test_matches_opencv_seamless_clone_in_the_interior():
    """OpenCV solves on the whole rectangle (its boundary is the rectangle's edge, not the mask's),
    so only the footprint's interior, away from the edge, is compared, within 3 levels."""
    cv2 = pytest.importorskip("cv2", reason="opencv is in the bench extra")
    h, w = 64, 80
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:h, :w]
    src = np.dstack([100 + yy, 60 + xx, 150 + 0 * xx]).astype(np.uint8) + rng.integers(0, 20, (h, w, 3)).astype(np.uint8)
    dst = np.dstack([200 - yy, 120 + 0 * xx, 40 + xx]).astype(np.uint8)
    mask = np.zeros((h, w), np.uint8)
    mask[16:48, 20:60] = 255
    cv = cv2.seamlessClone(src, dst, mask, (40, 32), cv2.NORMAL_CLONE).astype(np.float32)
    ours = solve(torch.from_numpy(src).permute(2, 0, 1).float(), torch.from_numpy(dst).permute(2, 0, 1).float(),
                 torch.from_numpy(mask > 0)).permute(1, 2, 0).numpy()
    inner = (slice(20, 44), slice(24, 56))
    assert np.abs(cv[inner] - ours[inner]).mean() < 3
