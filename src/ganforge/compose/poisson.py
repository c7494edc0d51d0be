"""Poisson image editing (Pérez, Gangnet and Blake 2003): a subject's gradients, the background's edge.

Inside the subject's footprint Ω the result f solves the discrete Poisson equation with the
background f* as the Dirichlet boundary (the paper's eq. 7)::

    |N_p| f_p - sum_{q in N_p ∩ Ω} f_q = sum_{q in N_p ∩ ∂Ω} f*_q + sum_{q in N_p} v_pq      for p in Ω

``v_pq`` is the guidance: ``g_p - g_q`` of the subject g (``normal``, OpenCV's NORMAL_CLONE),
or per channel whichever of ``g_p - g_q`` and ``f*_p - f*_q`` is larger in magnitude
(``mixed``, eq. 13, OpenCV's MIXED_CLONE: the background's texture shows through flat parts of
the subject). ``N_p`` are the 4-neighbours inside the array; a neighbour beyond it is left out
(a Neumann edge), so a footprint at the picture's border is solved too.

Two solvers of the same system:

- :func:`solve` (fast): conjugate gradients preconditioned with the exact inverse of the
  5-point Laplacian on the whole rectangle (zero Dirichlet edges), applied with a type-I
  discrete sine transform in O(HW log HW). Restricted to Ω it is symmetric positive definite,
  so CG stays valid, and it removes the rectangle-sized smooth error that plain CG converges
  to slowly: tens of iterations instead of thousands.
- :func:`solve_reference` (slow): plain conjugate gradients, for the parity test
  (``tests/compose/test_poisson.py``: the two agree within 1e-3 on 0..1 values).

Arrays are (C, H, W) float tensors; memory is a few copies of the rectangle the caller passes
(the subject's bounding box plus a margin, never the whole background).
"""

from __future__ import annotations

from typing import Callable, Literal

import torch

Guidance = Literal["normal", "mixed"]
Progress = Callable[[int, int], None] | None  # (iteration, most iterations)

TOLERANCE = 1e-4  # relative residual ||b - A f|| / ||b|| at which CG stops
MAX_ITERATIONS = 400  # the preconditioned solve takes tens; a bound for pathological footprints

# (dy, dx) of the four neighbours
_DIRECTIONS = ((-1, 0), (1, 0), (0, -1), (0, 1))


def _shift(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``out[..., y, x] = x[..., y + dy, x + dx]``, zero where that falls outside."""
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    ys, yd = (slice(dy, h), slice(0, h - dy)) if dy >= 0 else (slice(0, h + dy), slice(-dy, h))
    xs, xd = (slice(dx, w), slice(0, w - dx)) if dx >= 0 else (slice(0, w + dx), slice(-dx, w))
    out[..., yd, xd] = x[..., ys, xs]
    return out


class PoissonSystem:
    """The masked system ``A f = b`` of one footprint: ``A`` as a matrix-free operator on (C, H, W)
    arrays that are zero outside Ω, ``b`` from the guidance and the boundary."""

    def __init__(self, source: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                 guidance: Guidance = "normal") -> None:
        """source: (C, H, W) the subject g; target: (C, H, W) the background f*; mask: (H, W) bool, Ω."""
        if guidance not in ("normal", "mixed"):
            raise ValueError(f"guidance must be normal or mixed, got {guidance!r}")
        self.mask = mask.to(source.dtype)
        inside = torch.ones_like(self.mask)
        self.valid = [_shift(inside, dy, dx) for dy, dx in _DIRECTIONS]  # neighbour in the array
        self.degree = sum(self.valid)
        b = torch.zeros_like(source)
        outside = 1 - self.mask
        for (dy, dx), valid in zip(_DIRECTIONS, self.valid):
            v = source - _shift(source, dy, dx)
            if guidance == "mixed":
                u = target - _shift(target, dy, dx)
                v = torch.where(u.abs() > v.abs(), u, v)
            b += valid * (v + _shift(outside * target, dy, dx))
        self.b = b * self.mask

    @property
    def has_boundary(self) -> bool:
        """Whether some pixel of Ω touches a background pixel: without one, f is only defined up to a constant."""
        m = self.mask
        return bool(((1 - m) * sum(_shift(m, dy, dx) for dy, dx in _DIRECTIONS)).any())

    def apply(self, f: torch.Tensor) -> torch.Tensor:
        """``A f`` for f zero outside Ω."""
        out = self.degree * f
        for (dy, dx), valid in zip(_DIRECTIONS, self.valid):
            out -= valid * _shift(f, dy, dx)
        return out * self.mask


# Type-I discrete sine transform (DST-I) along the last axis, through a real FFT of the odd
# extension: X_k = sum_{n=1..N} x_n sin(pi k n / (N + 1)) = -Im(FFT([0, x, 0, -reversed(x)]))_k / 2.
def _dst1(x: torch.Tensor) -> torch.Tensor:
    n = x.shape[-1]
    y = x.new_zeros(*x.shape[:-1], 2 * n + 2)
    y[..., 1 : n + 1] = x
    y[..., n + 2 :] = -x.flip(-1)
    return torch.fft.rfft(y, dim=-1).imag[..., 1 : n + 1].mul_(-0.5)


def _fast_length(n: int) -> int:
    """The smallest m >= n whose only prime factors are 2, 3 and 5 (a quick FFT length)."""
    m = n
    while True:
        k = m
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 1


class LaplacianInverse:
    """The exact inverse of the 5-point Laplacian (4 u_p - sum of neighbours) on an H x W
    rectangle with zero outside, diagonal in the DST-I basis: eigenvalues
    ``4 - 2 cos(pi j / (H + 1)) - 2 cos(pi k / (W + 1))``.

    With ``fast=True`` the rectangle is enlarged (zeros below and right) to sides whose FFT length
    2(N + 1) has no large prime factor: still the exact inverse on a larger rectangle, so still a
    symmetric positive definite preconditioner of the footprint's system, and several times quicker."""

    def __init__(self, h: int, w: int, dtype: torch.dtype, *, fast: bool = False) -> None:
        self.h, self.w = h, w
        if fast:
            h, w = _fast_length(h + 1) - 1, _fast_length(w + 1) - 1
        self.ph, self.pw = h, w
        j = torch.arange(1, h + 1, dtype=torch.float64)
        k = torch.arange(1, w + 1, dtype=torch.float64)
        eig = 4 - 2 * torch.cos(torch.pi * j / (h + 1))[:, None] - 2 * torch.cos(torch.pi * k / (w + 1))[None, :]
        # DST-I is its own inverse up to 2 / (N + 1) per axis; stored (W, H): applied between the transposes
        self.scale = (4 / ((h + 1) * (w + 1)) / eig).T.contiguous().to(dtype)

    def __call__(self, r: torch.Tensor) -> torch.Tensor:
        if (self.ph, self.pw) != (self.h, self.w):
            r = torch.nn.functional.pad(r, (0, self.pw - self.w, 0, self.ph - self.h))
        # each transform runs along the contiguous last axis: rows, then (transposed) columns
        a = _dst1(_dst1(r).transpose(-1, -2).contiguous()) * self.scale
        return _dst1(_dst1(a).transpose(-1, -2).contiguous())[..., : self.h, : self.w]


def _cg(system: PoissonSystem, precondition: Callable[[torch.Tensor], torch.Tensor] | None, start: torch.Tensor,
        tolerance: float, max_iterations: int, progress: Progress) -> torch.Tensor:
    """(Preconditioned) conjugate gradients on every channel at once; each channel keeps its own
    step sizes (the sums run over H and W only)."""

    def dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a * b).sum(dim=(-2, -1), keepdim=True, dtype=torch.float64).to(a.dtype)

    f = start * system.mask
    r = system.b - system.apply(f)
    z = precondition(r) * system.mask if precondition else r
    p = z.clone()
    rz = dot(r, z)
    norm_b = torch.sqrt(dot(system.b, system.b)).clamp_min(1e-12)
    for i in range(max_iterations):
        if bool((torch.sqrt(dot(r, r)) <= tolerance * norm_b).all()):
            break
        ap = system.apply(p)
        alpha = rz / dot(p, ap).clamp_min(1e-30)
        f += alpha * p
        r -= alpha * ap
        z = precondition(r) * system.mask if precondition else r
        rz_next = dot(r, z)
        p = z + (rz_next / rz.clamp_min(1e-30)) * p
        rz = rz_next
        if progress is not None:
            progress(i + 1, max_iterations)
    return f


def solve(source: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, guidance: Guidance = "normal", *,
          tolerance: float = TOLERANCE, max_iterations: int = MAX_ITERATIONS, progress: Progress = None) -> torch.Tensor:
    """The blended (C, H, W) picture: f inside ``mask``, the target outside (fast solver).

    A footprint with no background pixel beside it (it covers the whole array) has no boundary
    to match; the source is returned there unchanged.
    """
    system = PoissonSystem(source, target, mask, guidance)
    if not system.has_boundary:
        return torch.where(mask, source, target)
    inverse = LaplacianInverse(*mask.shape, source.dtype, fast=True)
    f = _cg(system, inverse, source, tolerance, max_iterations, progress)
    return torch.where(mask, f, target)


def solve_reference(source: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, guidance: Guidance = "normal",
                    *, tolerance: float = 1e-7, max_iterations: int = 20_000) -> torch.Tensor:
    """The same system by plain conjugate gradients: slow (iterations grow with the footprint's
    size), for checking :func:`solve`."""
    system = PoissonSystem(source.double(), target.double(), mask, guidance)
    f = _cg(system, None, torch.zeros_like(system.b), tolerance, max_iterations, None)
    return torch.where(mask, f, target.double()).to(source.dtype)
