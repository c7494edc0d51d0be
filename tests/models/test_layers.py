"""Shared layers against hand-worked values: minibatch std, packing, conditional BN, D head, latent codes."""

from __future__ import annotations

import math

import pytest
import torch

from ganforge.models.layers import ConditionalBatchNorm, DiscriminatorHead, LatentCodes, MinibatchStd, pack_samples

pytestmark = pytest.mark.usefixtures("one_thread")

EPS_STD = math.sqrt(1e-8)  # MinibatchStd adds 1e-8 to the variance before the square root


# ------------------------------------------------------------------------------ MinibatchStd
def test_minibatch_std_of_identical_samples_is_the_epsilon_floor():
    x = torch.full((2, 3), 0.7)
    out = MinibatchStd()(x)
    assert out.shape == (2, 4)
    assert torch.equal(out[:, :3], x)
    torch.testing.assert_close(out[:, 3], torch.full((2,), EPS_STD), rtol=1e-3, atol=0)


def test_minibatch_std_of_zero_and_two_is_one():
    # Population variance of {0, 2} is 1 (unbiased would give 2, std 1.414).
    x = torch.tensor([[0.0], [2.0]])
    out = MinibatchStd()(x)
    torch.testing.assert_close(out[:, 1], torch.full((2,), math.sqrt(1 + 1e-8)))


def test_minibatch_std_groups_are_strided():
    # N=4, group_size=2: groups are samples {0, 2} and {1, 3} (sample j in group j % (N/G)).
    x = torch.tensor([[0.0], [10.0], [2.0], [10.0]])
    out = MinibatchStd(group_size=2)(x)
    expected = torch.tensor([math.sqrt(1 + 1e-8), EPS_STD, math.sqrt(1 + 1e-8), EPS_STD])
    torch.testing.assert_close(out[:, 1], expected, rtol=1e-4, atol=0)


def test_minibatch_std_averages_over_features_and_positions_in_4d():
    # Two samples, 2 x 2 x 2 values: they differ by 2 at half the positions, agree elsewhere.
    a = torch.zeros(2, 2, 2)
    b = torch.zeros(2, 2, 2)
    b[0] = 2.0
    x = torch.stack([a, b])
    out = MinibatchStd()(x)
    assert out.shape == (2, 3, 2, 2)
    assert torch.equal(out[:, :2], x)
    expected = (math.sqrt(1 + 1e-8) + EPS_STD) / 2
    torch.testing.assert_close(out[:, 2], torch.full((2, 2, 2), expected))


@pytest.mark.parametrize(
    "n, group_size, expected_group",
    [(8, 4, 4), (6, 4, 3), (5, 4, 1), (4, 8, 4), (1, 4, 1)],
)
def test_minibatch_std_group_is_largest_divisor_at_most_group_size(n, group_size, expected_group):
    # Sample j has value j; every group holds members j, j+M, j+2M, ... (M = n / group), so
    # all groups have the population std of {0, M, 2M, ...}, which identifies the group size.
    x = torch.arange(n, dtype=torch.float32).view(n, 1)
    m = n // expected_group
    members = torch.arange(expected_group, dtype=torch.float64) * m
    std = math.sqrt(members.var(unbiased=False).item() + 1e-8)
    out = MinibatchStd(group_size=group_size)(x)
    torch.testing.assert_close(out[:, 1], torch.full((n,), std), rtol=1e-4, atol=0)


def test_minibatch_std_keeps_dtype_and_shape_2d():
    x = torch.randn(8, 5, dtype=torch.float64)
    out = MinibatchStd()(x)
    assert out.shape == (8, 6) and out.dtype == torch.float64


# ----------------------------------------------------------------------------- pack_samples
def test_pack_samples_stacks_consecutive_samples_into_channels_in_order():
    x = torch.arange(4 * 2 * 3 * 3, dtype=torch.float32).view(4, 2, 3, 3)
    out = pack_samples(x, 2)
    assert out.shape == (2, 4, 3, 3)
    assert torch.equal(out[0, :2], x[0]) and torch.equal(out[0, 2:], x[1])
    assert torch.equal(out[1, :2], x[2]) and torch.equal(out[1, 2:], x[3])


def test_pack_samples_of_vectors():
    x = torch.arange(6 * 2, dtype=torch.float32).view(6, 2)
    out = pack_samples(x, 3)
    assert out.shape == (2, 6)
    assert torch.equal(out[0], torch.cat([x[0], x[1], x[2]]))
    assert torch.equal(out[1], torch.cat([x[3], x[4], x[5]]))


def test_pack_of_one_is_the_identity():
    x = torch.randn(3, 2)
    assert pack_samples(x, 1) is x


def test_pack_samples_refuses_a_batch_that_does_not_divide():
    with pytest.raises(ValueError, match=r"5.*2"):
        pack_samples(torch.zeros(5, 1, 4, 4), 2)


# ---------------------------------------------------------------------- ConditionalBatchNorm
def _manual_bn(x: torch.Tensor, eps: float) -> torch.Tensor:
    dims = [0] + list(range(2, x.dim()))
    mean = x.mean(dim=dims, keepdim=True)
    var = x.var(dim=dims, unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps)


@pytest.mark.parametrize("dims, shape", [(2, (6, 3, 2, 2)), (1, (6, 3))])
def test_conditional_batchnorm_applies_the_per_class_gain_and_bias(dims, shape):
    cbn = ConditionalBatchNorm(3, 4, dims=dims).train()
    gain = torch.tensor([[1.0, 2.0, 3.0], [0.5, -1.0, 4.0], [2.0, 2.0, 2.0], [0.0, 1.0, -3.0]])
    bias = torch.tensor([[0.0, 1.0, 2.0], [-1.0, 0.5, 0.0], [3.0, 3.0, 3.0], [1.0, -2.0, 0.25]])
    with torch.no_grad():
        cbn.gain.weight.copy_(gain)
        cbn.bias.weight.copy_(bias)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0)) * 3 + 1
    labels = torch.tensor([0, 1, 2, 3, 0, 1])
    view = (6, 3) + (1,) * (len(shape) - 2)
    expected = _manual_bn(x, cbn.bn.eps) * gain[labels].view(view) + bias[labels].view(view)
    torch.testing.assert_close(cbn(x, labels), expected, rtol=1e-5, atol=1e-5)


def test_conditional_batchnorm_has_no_shared_affine_and_starts_as_identity_affine():
    cbn = ConditionalBatchNorm(3, 4)
    assert cbn.bn.weight is None and cbn.bn.bias is None  # the affine part is per class only
    assert torch.equal(cbn.gain.weight, torch.ones(4, 3))
    assert torch.equal(cbn.bias.weight, torch.zeros(4, 3))


def test_conditional_batchnorm_in_eval_uses_running_statistics():
    cbn = ConditionalBatchNorm(2, 2)
    with torch.no_grad():
        cbn.gain.weight.copy_(torch.tensor([[2.0, 3.0], [1.0, 1.0]]))
        cbn.bias.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, -1.0]]))
        cbn.bn.running_mean.copy_(torch.tensor([1.0, -1.0]))
        cbn.bn.running_var.copy_(torch.tensor([4.0, 0.25]))
    cbn.eval()
    x = torch.tensor([[3.0, 0.0], [1.0, -1.0]]).view(2, 2, 1, 1)
    eps = cbn.bn.eps
    expected = torch.tensor(
        [
            [2.0 * 2 / math.sqrt(4 + eps) + 1.0, 3.0 * 1 / math.sqrt(0.25 + eps) + 0.0],
            [1.0 * 0 / math.sqrt(4 + eps) + 0.0, 1.0 * 0 / math.sqrt(0.25 + eps) - 1.0],
        ]
    ).view(2, 2, 1, 1)
    torch.testing.assert_close(cbn(x, torch.tensor([0, 1])), expected)


def test_unconditional_batchnorm_is_plain_batchnorm_with_affine():
    cbn = ConditionalBatchNorm(3, 0).train()
    assert not hasattr(cbn, "gain")
    with torch.no_grad():
        cbn.bn.weight.copy_(torch.tensor([2.0, 0.5, -1.0]))
        cbn.bn.bias.copy_(torch.tensor([1.0, 0.0, 3.0]))
    x = torch.randn(5, 3, 2, 2, generator=torch.Generator().manual_seed(1))
    expected = _manual_bn(x, cbn.bn.eps) * torch.tensor([2.0, 0.5, -1.0]).view(1, 3, 1, 1) + torch.tensor(
        [1.0, 0.0, 3.0]
    ).view(1, 3, 1, 1)
    torch.testing.assert_close(cbn(x), expected, rtol=1e-5, atol=1e-5)


def test_conditional_batchnorm_without_labels_raises():
    with pytest.raises(ValueError, match="labels"):
        ConditionalBatchNorm(3, 4)(torch.randn(2, 3, 2, 2))


# ------------------------------------------------------------------------ DiscriminatorHead
H = torch.tensor([[1.0, 2.0, -1.0], [0.5, 0.0, 3.0]])  # (N=2, F=3)
W = torch.tensor([[0.5, -1.0, 2.0]])  # score weight (1, F)
B = 0.25
E = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, -1.0]])  # class embeddings (K=2, F)


def _set_score(head: DiscriminatorHead) -> None:
    with torch.no_grad():
        head.score.weight.copy_(W)
        head.score.bias.fill_(B)


def test_unconditional_head_is_linear():
    head = DiscriminatorHead(3, num_classes=0, conditioning="projection", sn=False)
    _set_score(head)
    score, aux = head(H, None)
    # w.h + b: [0.5 - 2 - 2, 0.25 + 0 + 6] + 0.25
    torch.testing.assert_close(score, torch.tensor([-3.5 + B, 6.25 + B]))
    assert aux is None
    assert not hasattr(head, "embed") and not hasattr(head, "classifier")


def test_projection_head_adds_the_inner_product_of_the_class_embedding_and_h():
    head = DiscriminatorHead(3, num_classes=2, conditioning="projection", sn=False)
    _set_score(head)
    with torch.no_grad():
        head.embed.weight.copy_(E)
    score, aux = head(H, torch.tensor([1, 0]))
    # sample 0, class 1: (0*1 + 2*2 + -1*-1) = 5;  sample 1, class 0: 0.5
    torch.testing.assert_close(score, torch.tensor([-3.5 + B + 5.0, 6.25 + B + 0.5]))
    assert aux is None
    # Swapping the labels changes only the projection term.
    score_swapped, _ = head(H, torch.tensor([0, 1]))
    # sample 0, class 0: 1;  sample 1, class 1: 0 + 0 - 3 = -3
    torch.testing.assert_close(score_swapped, torch.tensor([-3.5 + B + 1.0, 6.25 + B - 3.0]))


def test_projection_head_without_labels_raises():
    head = DiscriminatorHead(3, num_classes=2, conditioning="projection", sn=False)
    with pytest.raises(ValueError, match="labels"):
        head(H, None)


def test_acgan_head_returns_class_logits_and_a_label_free_score():
    head = DiscriminatorHead(3, num_classes=2, conditioning="acgan", sn=False)
    _set_score(head)
    with torch.no_grad():
        head.classifier.weight.copy_(E)
        head.classifier.bias.copy_(torch.tensor([0.5, -0.5]))
    score, logits = head(H, torch.tensor([1, 0]))
    torch.testing.assert_close(score, torch.tensor([-3.5 + B, 6.25 + B]))
    # W_c h + b_c: sample 0 -> [1, 5] + [0.5, -0.5];  sample 1 -> [0.5, -3] + [0.5, -0.5]
    torch.testing.assert_close(logits, torch.tensor([[1.5, 4.5], [1.0, -3.5]]))
    score_other, _ = head(H, torch.tensor([0, 0]))
    assert torch.equal(score, score_other)


def test_spectral_norm_head_divides_the_score_weight_by_its_norm():
    # A (1, F) weight has one singular value, its Euclidean norm; power iteration finds it
    # in one step, so the normalised score is w.h / |w| + b.
    head = DiscriminatorHead(3, num_classes=0, conditioning="projection", sn=True).train()
    with torch.no_grad():
        head.score.parametrizations.weight.original.copy_(W)
        head.score.bias.fill_(B)
    score, _ = head(H, None)
    norm = W.norm().item()  # sqrt(0.25 + 1 + 4) = sqrt(5.25)
    torch.testing.assert_close(score, torch.tensor([-3.5 / norm + B, 6.25 / norm + B]), rtol=1e-5, atol=1e-5)


def test_latent_codes_are_the_normal_cdf_bins_of_the_first_coordinate():
    """c = floor(K * Phi(z_0)): Phi(0) = 1/2, Phi(-0.6745) = 1/4, Phi(0.6745) = 3/4; other coordinates are ignored."""
    layer = LatentCodes(4, dim=3)
    z0 = torch.tensor([-10.0, -0.70, -0.65, -0.01, 0.0, 0.65, 0.70, 10.0])
    z = torch.stack([z0, torch.randn(8) * 100], dim=1)
    assert layer.codes(z).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]


def test_latent_codes_are_uniform_under_the_gaussian_latent():
    layer = LatentCodes(10, dim=2)
    z = torch.randn(200_000, 2, generator=torch.Generator().manual_seed(0))
    share = torch.bincount(layer.codes(z), minlength=10).float() / len(z)
    # each share has standard error sqrt(0.1 * 0.9 / 200000) = 0.00067; 5 of them is 0.0034
    assert (share - 0.1).abs().max() < 0.0034


def test_latent_codes_output_is_the_embedding_row_of_each_code():
    layer = LatentCodes(3, dim=5)
    z = torch.tensor([[-3.0, 0.0], [0.0, 1.0], [3.0, -1.0]])
    torch.testing.assert_close(layer(z), layer.embed.weight[[0, 1, 2]])


# ------------------------------------------------------------------------------ MaxPool2x2
@pytest.mark.parametrize("shape", [(3, 4, 8, 8), (2, 1, 7, 9), (5, 16, 32, 32)])
def test_maxpool2x2_fast_path_equals_max_pool2d_exactly(shape):
    from ganforge.models.layers import MaxPool2x2

    g = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=g)
    x[x < 0] = 0  # ReLU-like ties, as in fashion-cnn
    x[0, 0, 0, 0] = float("nan")
    with torch.no_grad():
        fast = MaxPool2x2()(x)
    slow = torch.nn.functional.max_pool2d(x, 2)
    assert fast.shape == slow.shape
    assert torch.equal(fast.isnan(), slow.isnan())
    assert torch.equal(torch.nan_to_num(fast), torch.nan_to_num(slow))  # bit for bit: a maximum is exact


def test_maxpool2x2_keeps_max_pool2d_gradients_when_training():
    from ganforge.models.layers import MaxPool2x2

    x = torch.zeros(1, 1, 2, 2, requires_grad=True)  # a four-way tie
    MaxPool2x2()(x).sum().backward()
    ours = x.grad.clone()
    x.grad = None
    torch.nn.functional.max_pool2d(x, 2).sum().backward()
    assert torch.equal(ours, x.grad) and float(ours.sum()) == 1.0  # routed to one input, not split
