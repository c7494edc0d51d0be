"""Adversarial losses against hand-computed values; penalties against per-sample autograd."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch import nn

from ganforge.errors import GanforgeError
from ganforge.losses import (
    LOSSES,
    AdversarialLoss,
    HingeLoss,
    gradient_penalty,
    mode_seeking_penalty,
    r1_penalty,
    register_loss,
)
from ganforge.registry import Registry

BUILTIN = ("nonsaturating", "hinge", "wgan-gp", "lsgan")

# One hand-worked case for every loss: real = [2, -0.5], fake = [0.5, -3].
REAL = (2.0, -0.5)
FAKE = (0.5, -3.0)
EXPECTED = {  # name: (d_loss, g_loss), worked out term by term
    # softplus(t) = log1p(exp(t)); D: softplus(-real) + softplus(fake); G: softplus(-fake)
    "nonsaturating": (
        (math.log1p(math.exp(-2.0)) + math.log1p(math.exp(0.5))) / 2
        + (math.log1p(math.exp(0.5)) + math.log1p(math.exp(-3.0))) / 2,
        (math.log1p(math.exp(-0.5)) + math.log1p(math.exp(3.0))) / 2,
    ),
    # D: relu(1-2)=0, relu(1.5)=1.5 -> 0.75; relu(1.5)=1.5, relu(-2)=0 -> 0.75.  G: -(-1.25)
    "hinge": (1.5, 1.25),
    # D: mean(fake) - mean(real) = -1.25 - 0.75.  G: -mean(fake)
    "wgan-gp": (-2.0, 1.25),
    # D: 0.5*(1 + 2.25)/2 + 0.5*(0.25 + 9)/2.  G: 0.5*(0.25 + 16)/2
    "lsgan": (0.8125 + 2.3125, 4.0625),
}


def test_every_registered_loss_has_a_hand_computed_case():
    assert set(LOSSES.names()) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_loss_values_by_hand(name, dtype):
    # the inputs are exact in half precision, so every dtype must give the float32 answer
    loss = LOSSES.get(name)
    real, fake = torch.tensor(REAL, dtype=dtype), torch.tensor(FAKE, dtype=dtype)
    d, g = loss.d_loss(real, fake), loss.g_loss(fake)
    assert d.shape == () and g.shape == ()
    assert d.dtype == torch.float32 and g.dtype == torch.float32
    d_expected, g_expected = EXPECTED[name]
    assert d.item() == pytest.approx(d_expected, rel=1e-6, abs=1e-6)
    assert g.item() == pytest.approx(g_expected, rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("name", LOSSES.names())
def test_raising_fake_logits_lowers_g_loss(name):
    loss = LOSSES.get(name)
    fake = torch.tensor(FAKE, requires_grad=True)  # all below 1, where LSGAN's target lies
    loss.g_loss(fake).backward()
    assert (fake.grad < 0).all(), fake.grad
    with torch.no_grad():
        assert loss.g_loss(fake + 0.1) < loss.g_loss(fake)


@pytest.mark.parametrize("name", LOSSES.names())
def test_d_loss_rewards_high_real_and_low_fake_logits(name):
    loss = LOSSES.get(name)
    # inside the hinge margin and LSGAN's targets, so every loss has a strict slope here
    real = torch.tensor([0.5, -0.5], requires_grad=True)
    fake = torch.tensor([0.5, 0.25], requires_grad=True)
    loss.d_loss(real, fake).backward()
    assert (real.grad < 0).all(), real.grad
    assert (fake.grad > 0).all(), fake.grad


def test_hinge_ignores_samples_beyond_the_margin():
    real = torch.tensor([1.5, 3.0], requires_grad=True)
    fake = torch.tensor([-1.5, -4.0], requires_grad=True)
    d = HingeLoss().d_loss(real, fake)
    d.backward()
    assert d.item() == 0.0
    assert (real.grad == 0).all() and (fake.grad == 0).all()


# --- registry -------------------------------------------------------------------------------


def test_builtin_losses_are_registered_under_their_names():
    for name in BUILTIN:
        loss = LOSSES.get(name)
        assert isinstance(loss, AdversarialLoss)
        assert loss.name == name
    assert [n for n in BUILTIN if LOSSES.get(n).needs_gradient_penalty] == ["wgan-gp"]


def test_duplicate_registration_raises_and_keeps_the_original():
    original = LOSSES.get("hinge")
    with pytest.raises(ValueError, match="loss 'hinge' is already registered"):
        register_loss(HingeLoss())
    assert LOSSES.get("hinge") is original


def test_unknown_loss_lists_the_known_names():
    with pytest.raises(GanforgeError) as info:
        LOSSES.get("hinj")
    message = str(info.value)
    assert "unknown loss 'hinj'" in message and "did you mean 'hinge'" in message
    for name in BUILTIN:
        assert name in message


def test_register_loss_adds_a_new_loss(monkeypatch):
    import ganforge.losses as losses

    monkeypatch.setattr(losses, "LOSSES", Registry("loss"))  # keep the real registry clean

    @dataclasses.dataclass(frozen=True)
    class CustomLoss(AdversarialLoss):
        name: str = "custom"

    loss = CustomLoss()
    assert losses.register_loss(loss) is loss
    assert losses.LOSSES.get("custom") is loss


def test_registered_losses_are_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        LOSSES.get("hinge").name = "other"  # type: ignore[misc]


# --- penalties ------------------------------------------------------------------------------

SHAPE = (4, 2, 2, 2)  # (N, C, H, W): 8 values per sample


def _batch(seed: int) -> torch.Tensor:
    return torch.randn(SHAPE, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_penalties_of_a_linear_critic_are_closed_form():
    # f(x) = <x, w> has gradient w at every x: R1 = ||w||^2 and GP = (||w|| - 1)^2 for any a
    w = torch.randn(8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    critic = lambda x: x.flatten(1) @ w  # noqa: E731
    real, fake = _batch(1), _batch(2)
    norm = math.sqrt(sum(v * v for v in w.tolist()))
    assert r1_penalty(critic, real).item() == pytest.approx(norm**2, rel=1e-12)
    for seed in (0, 1):
        gp = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(seed))
        assert gp.item() == pytest.approx((norm - 1.0) ** 2, rel=1e-12)


def test_penalties_of_a_quadratic_critic_are_closed_form():
    # f(x) = ||x||^2 has gradient 2x: R1 = mean 4||x||^2, GP = mean (2||x_hat|| - 1)^2
    critic = lambda x: x.flatten(1).square().sum(1)  # noqa: E731
    real, fake = _batch(1), _batch(2)
    r1_expected = sum(4 * sum(v * v for v in sample) for sample in real.flatten(1).tolist()) / SHAPE[0]
    assert r1_penalty(critic, real).item() == pytest.approx(r1_expected, rel=1e-12)

    # the mixing weights are one torch.rand draw of shape (N, 1, 1, 1) from the generator
    alpha = torch.rand((SHAPE[0], 1, 1, 1), generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    x_hat = alpha * real + (1 - alpha) * fake
    gp_expected = sum((2 * math.sqrt(sum(v * v for v in s)) - 1) ** 2 for s in x_hat.flatten(1).tolist()) / SHAPE[0]
    gp = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(7))
    assert gp.item() == pytest.approx(gp_expected, rel=1e-12)


def _mlp_critic() -> nn.Module:
    torch.manual_seed(0)
    # returns (N, 1): the penalties must cope with a trailing score dimension
    return nn.Sequential(nn.Flatten(), nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 1)).double()


def _per_sample_grads(critic: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Reference: each sample's input gradient from torch.func, one sample at a time."""
    grad_one = torch.func.grad(lambda xi: critic(xi.unsqueeze(0)).sum())
    return torch.stack([grad_one(xi).flatten() for xi in x])


def test_penalties_match_per_sample_autograd_for_a_nonlinear_critic():
    critic = _mlp_critic()
    real, fake = _batch(1), _batch(2)
    with torch.no_grad():
        r1_expected = _per_sample_grads(critic, real).square().sum(1).mean()
    torch.testing.assert_close(r1_penalty(critic, real), r1_expected, rtol=1e-10, atol=1e-12)

    alpha = torch.rand((SHAPE[0], 1, 1, 1), generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    x_hat = alpha * real + (1 - alpha) * fake
    gp_expected = (_per_sample_grads(critic, x_hat).norm(dim=1) - 1).square().mean()
    gp = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(gp, gp_expected.detach(), rtol=1e-10, atol=1e-12)


def test_penalties_backpropagate_into_critic_parameters():
    # a linear critic's input gradient is its weight W: dR1/dW = 2W, dGP/dW = 2(||W||-1) W/||W||
    critic = nn.Linear(8, 1).double()
    flat = lambda x: critic(x.flatten(1))  # noqa: E731
    real, fake = _batch(1), _batch(2)
    w = critic.weight.detach().clone()

    r1_penalty(flat, real).backward()
    torch.testing.assert_close(critic.weight.grad, 2 * w)
    assert critic.bias.grad is None or (critic.bias.grad == 0).all()  # R1 does not depend on b

    critic.zero_grad(set_to_none=True)
    gradient_penalty(flat, real, fake).backward()
    norm = w.norm()
    torch.testing.assert_close(critic.weight.grad, 2 * (norm - 1) * w / norm)
    assert critic.weight.grad.abs().sum() > 0


def test_gradient_penalty_sends_no_gradient_to_the_generator_or_data():
    generator = nn.Linear(3, 8).double()
    z = torch.randn(SHAPE[0], 3, dtype=torch.float64)
    fake = generator(z).view(SHAPE)
    real = _batch(1).requires_grad_(True)
    gradient_penalty(_mlp_critic(), real, fake).backward()
    assert generator.weight.grad is None
    assert real.grad is None


def test_gradient_penalty_is_reproducible_with_a_generator():
    critic = lambda x: x.flatten(1).square().sum(1)  # noqa: E731  (gp depends on a)
    real, fake = _batch(1), _batch(2)
    gp = lambda seed: gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(seed))  # noqa: E731
    assert gp(5).item() == gp(5).item()
    assert gp(5).item() != gp(6).item()


def test_gradient_penalty_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        gradient_penalty(_mlp_critic(), _batch(1), _batch(2)[:2])


def test_penalties_reduce_in_float32_for_half_precision_inputs():
    w = torch.ones(8, dtype=torch.bfloat16)
    critic = lambda x: x.flatten(1) @ w  # noqa: E731
    real = _batch(1).bfloat16()
    r1 = r1_penalty(critic, real)
    gp = gradient_penalty(critic, real, _batch(2).bfloat16())
    assert r1.dtype == torch.float32 and gp.dtype == torch.float32
    assert r1.item() == 8.0  # ||w||^2
    assert gp.item() == pytest.approx((math.sqrt(8.0) - 1.0) ** 2, rel=1e-6)


def test_mode_seeking_penalty_by_hand():
    # pairs (0, 2) and (1, 3): image distance mean|[1, 3]| = 2, latent distance mean|[2, 2]| = 2
    fake = torch.tensor([[0.0], [1.0], [1.0], [-2.0]])
    z = torch.tensor([[1.0], [0.0], [-1.0], [2.0]])
    assert mode_seeking_penalty(fake, z, eps=0.0).item() == pytest.approx(1.0)
    # an odd last sample is left unpaired, whatever it is
    with_extra = mode_seeking_penalty(torch.cat([fake, torch.tensor([[50.0]])]),
                                      torch.cat([z, torch.tensor([[9.0]])]), eps=0.0)
    assert with_extra.item() == pytest.approx(1.0)


def test_mode_seeking_penalty_rewards_outputs_that_differ_and_pushes_them_apart():
    z = torch.randn(8, 4, generator=torch.Generator().manual_seed(0))
    same = torch.zeros(8, 3, 2, 2, requires_grad=True)  # a collapsed G: every z, one picture
    spread = torch.randn(8, 3, 2, 2, generator=torch.Generator().manual_seed(1))
    assert mode_seeking_penalty(spread, z) < mode_seeking_penalty(same.detach() + 1e-3 * spread, z)
    # one gradient step on the outputs moves each pair apart
    fake = (1e-2 * spread).requires_grad_(True)
    before = (fake[:4] - fake[4:]).abs().sum().item()
    mode_seeking_penalty(fake, z).backward()
    with torch.no_grad():
        moved = fake - 1e-4 * fake.grad
    assert (moved[:4] - moved[4:]).abs().sum().item() > before


def test_mode_seeking_penalty_needs_a_pair_and_reduces_in_float32():
    with pytest.raises(ValueError, match="at least 2 samples"):
        mode_seeking_penalty(torch.zeros(1, 3), torch.zeros(1, 2))
    out = mode_seeking_penalty(_batch(1).bfloat16(), torch.randn(4, 2).bfloat16())
    assert out.dtype == torch.float32 and math.isfinite(out.item())
