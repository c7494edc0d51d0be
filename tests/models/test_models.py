"""One shared test set run over every registered model family and every D/G variant.

A family registered in ``MODELS`` is picked up automatically; it only needs a tiny setting
in ``TINY`` (a test fails and says so when it is missing). Each case builds a tiny G and D
on the CPU and checks shapes, save/load, seeding, gradient flow and label conditioning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import torch
from pydantic import ValidationError

from ganforge.tasks import build_config
from ganforge.errors import GanforgeError
from ganforge.models import MODELS
from ganforge.models.layers import LatentCodes, TraitEmbedding
from ganforge.checkpoint import load_into, save_weights

pytestmark = pytest.mark.usefixtures("one_thread")

NUM_CLASSES = 3
BATCH = 4  # divisible by pack=2 and a full minibatch-std group of 4

# family -> (extra config fields, output shapes to test)
TINY: dict[str, tuple[dict[str, Any], list[tuple[int, ...]]]] = {
    "dcgan": ({"width": 8, "latent_dim": 16}, [(1, 32, 32), (3, 28, 28), (3, 64, 64)]),
    "mlp": ({"width": 16, "depth": 2, "latent_dim": 8}, [(2,), (1, 8, 8)]),
    "stylegan": (
        {"width": 8, "max_channels": 16, "w_dim": 16, "mapping_layers": 2, "latent_dim": 16},
        [(1, 32, 32), (3, 32, 32)],
    ),
}

VARIANTS: dict[str, dict[str, Any]] = {
    "uncond": {},
    "projection": {"conditional": True, "num_classes": NUM_CLASSES, "d_conditioning": "projection"},
    "acgan": {"conditional": True, "num_classes": NUM_CLASSES, "d_conditioning": "acgan"},
    "sn-mbstd": {"spectral_norm": True, "minibatch_std": True},
    "pack2": {"pack": 2},
}

# Variants only one family has: family -> {variant name: extra config fields}.
FAMILY_VARIANTS: dict[str, dict[str, dict[str, Any]]] = {
    "mlp": {
        "latent-codes": {"latent_codes": 5},
        "latent-codes-projection": {"latent_codes": 5, **VARIANTS["projection"]},
    },
}


@dataclass(frozen=True)
class Case:
    family: str
    shape: tuple[int, ...] | None  # None: the family has no entry in TINY
    variant: str

    @property
    def id(self) -> str:
        return f"{self.family}-{'x'.join(map(str, self.shape or ()))}-{self.variant}"


def _cases() -> list[Case]:
    cases = []
    for family in MODELS.names():  # a newly registered family is covered without editing this file
        shapes = TINY[family][1] if family in TINY else [None]
        variants = [*VARIANTS, *FAMILY_VARIANTS.get(family, {})]
        cases += [Case(family, shape, variant) for shape in shapes for variant in variants]
    return cases


CASES = _cases()


@pytest.fixture(params=CASES, ids=[c.id for c in CASES])
def case(request) -> Case:
    c = request.param
    if c.shape is None:
        pytest.fail(f"model family '{c.family}' has no tiny test setting; add it to TINY in {__file__}")
    return c


def make_config(c: Case):
    extra, _ = TINY[c.family]
    fields = VARIANTS[c.variant] if c.variant in VARIANTS else FAMILY_VARIANTS[c.family][c.variant]
    return MODELS.get(c.family).config(family=c.family, output_shape=c.shape, **extra, **fields)


def build(cfg, seed: int) -> tuple[torch.nn.Module, torch.nn.Module]:
    """G and D built after ``torch.manual_seed(seed)``, without disturbing the global RNG."""
    family = MODELS.get(cfg.family)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return family.build_generator(cfg), family.build_discriminator(cfg)


def inputs(cfg, seed: int = 123) -> tuple[torch.Tensor, torch.Tensor | None]:
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(BATCH, cfg.latent_dim, generator=g)
    labels = torch.tensor([0, 1, 2, 0]) if cfg.conditional else None  # every class used
    return z, labels


def fake_data(cfg, seed: int = 7) -> torch.Tensor:
    """Data-shaped input for D, in [-1, 1]."""
    return torch.rand(BATCH, *cfg.output_shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_every_family_has_a_tiny_setting():
    assert set(TINY) == set(MODELS.names())


# -------------------------------------------------------------------------------- (a) shapes
def test_generator_output_shape_and_range(case):
    cfg = make_config(case)
    G, _ = build(cfg, 0)
    z, y = inputs(cfg)
    for mode in (G.train, G.eval):
        mode()
        out = G(z, y)
        assert out.shape == (BATCH, *case.shape)
        assert out.dtype == torch.float32 and torch.isfinite(out).all()
        # mlp and dcgan images go through tanh; a generator with a linear output (StyleGAN)
        # says so with ``bounded_output = False``.
        if len(case.shape) == 3 and getattr(G, "bounded_output", True):
            assert out.min() >= -1 and out.max() <= 1


def test_discriminator_output_shapes(case):
    cfg = make_config(case)
    G, D = build(cfg, 0)
    z, y = inputs(cfg)
    for x in (G(z, y), fake_data(cfg)):
        scores, aux = D(x, y)
        assert scores.shape == (BATCH // cfg.pack,)
        assert torch.isfinite(scores).all()
        if case.variant == "acgan":
            assert aux is not None and aux.shape == (BATCH, NUM_CLASSES)
        else:
            assert aux is None


# ---------------------------------------------------------------------------- (b) save/load
def _roundtrip(original, fresh, path, run) -> None:
    save_weights(original, path)
    original.eval()
    fresh.eval()
    before = run(fresh)
    assert not torch.equal(run(original), before), "a differently seeded model should differ (test guard)"
    load_into(fresh, path)
    assert torch.equal(run(original), run(fresh))
    ref, got = original.state_dict(), fresh.state_dict()
    assert ref.keys() == got.keys()
    assert all(torch.equal(ref[k], got[k]) for k in ref)


def test_generator_save_load_round_trip(case, tmp_path):
    cfg = make_config(case)
    (G, _), (G2, _) = build(cfg, 0), build(cfg, 1)
    z, y = inputs(cfg)
    with torch.no_grad():
        G.train()(z * 2 + 0.5, y)  # move batch-norm running statistics away from their defaults
    _roundtrip(G, G2, tmp_path / "g.safetensors", lambda m: m(z, y))


def test_discriminator_save_load_round_trip(case, tmp_path):
    cfg = make_config(case)
    (_, D), (_, D2) = build(cfg, 0), build(cfg, 1)
    x = fake_data(cfg)
    _, y = inputs(cfg)
    with torch.no_grad():
        D.train()(x, y)  # a power iteration moves spectral-norm vectors away from their init

    def run(m):
        scores, aux = m(x, y)
        return scores if aux is None else torch.cat([scores, aux.flatten()])

    _roundtrip(D, D2, tmp_path / "d.safetensors", run)


# ------------------------------------------------------------------------- (c) determinism
def test_same_seed_builds_identical_models(case):
    cfg = make_config(case)
    (G1, D1), (G2, D2) = build(cfg, 5), build(cfg, 5)
    for a, b in ((G1, G2), (D1, D2)):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    z, y = inputs(cfg)
    # G runs in train mode, where some families draw from the global RNG on purpose
    # (StyleGAN's noise inputs and style mixing); both calls see the same draws.
    outs = []
    for G in (G1, G2):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            outs.append(G(z, y))
    out1, out2 = outs
    assert torch.equal(out1, out2)
    assert torch.equal(D1(out1, y)[0], D2(out2, y)[0])


def test_different_seeds_build_different_models(case):
    cfg = make_config(case)
    (G1, D1), (G2, D2) = build(cfg, 5), build(cfg, 6)
    for a, b in ((G1, G2), (D1, D2)):
        pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
        differing = [k for k in pa if not torch.equal(pa[k], pb[k])]
        assert differing, f"no parameter of {type(a).__name__} depends on the seed"
    z, y = inputs(cfg)
    assert not torch.equal(G1(z, y), G2(z, y))
    x = fake_data(cfg)
    assert not torch.equal(D1(x, y)[0], D2(x, y)[0])


# ---------------------------------------------------------------------------- (d) gradients
def test_gradients_reach_every_generator_parameter_and_sample(case):
    cfg = make_config(case)
    G, D = build(cfg, 0)
    z, y = inputs(cfg)
    fake = G(z, y)
    fake.retain_grad()
    scores, _ = D(fake, y)
    scores.sum().backward()
    # With packing, D sees samples in groups; every sample must still get a gradient.
    per_sample = fake.grad.flatten(1).abs().sum(dim=1)
    assert (per_sample > 0).all(), f"samples without gradient: {per_sample.tolist()}"
    for name, p in G.named_parameters():
        assert p.grad is not None, f"{name} gets no gradient"
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"{name} gets an all-zero gradient"
    # Class embeddings get gradient in the rows of the classes used (here all of them), and
    # latent-code embeddings in the rows of the codes the batch's z fall in.
    code_embeddings = {id(m.embed): m for m in G.modules() if isinstance(m, LatentCodes)}
    for name, m in G.named_modules():
        if isinstance(m, (torch.nn.Embedding, TraitEmbedding)):
            rows = code_embeddings[id(m)].codes(z) if id(m) in code_embeddings else y
            for k in rows.unique().tolist():
                assert m.weight.grad[k].abs().sum() > 0, f"{name} row {k} gets no gradient"


def test_gradients_reach_every_discriminator_parameter(case):
    cfg = make_config(case)
    _, D = build(cfg, 0)
    _, y = inputs(cfg)
    scores, aux = D(fake_data(cfg), y)
    loss = scores.sum() + (aux.logsumexp(dim=1).sum() if aux is not None else 0)
    loss.backward()
    for name, p in D.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"{name} gets no gradient"


# ------------------------------------------------------------------------ (e) conditioning
CONDITIONAL = [c for c in CASES if c.variant.endswith(("projection", "acgan"))]


@pytest.fixture(params=CONDITIONAL, ids=[c.id for c in CONDITIONAL])
def conditional_case(request) -> Case:
    if request.param.shape is None:
        pytest.fail(f"model family '{request.param.family}' has no tiny test setting in TINY")
    return request.param


def test_conditional_generator_depends_on_labels(conditional_case):
    cfg = make_config(conditional_case)
    G, _ = build(cfg, 0)
    # Conditional batch norm starts with gain 1 and bias 0 for every class, so a freshly
    # initialised G may ignore labels by design; perturb all weights as training would.
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in G.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
    G.eval()
    z, _ = inputs(cfg)
    outs = [G(z, torch.full((BATCH,), k)) for k in range(NUM_CLASSES)]
    for a in range(NUM_CLASSES):
        for b in range(a + 1, NUM_CLASSES):
            differs = (outs[a] - outs[b]).flatten(1).abs().amax(dim=1) > 0
            assert differs.all(), f"classes {a} and {b} give the same sample for the same z"


def test_conditional_generator_without_labels_raises(conditional_case):
    cfg = make_config(conditional_case)
    G, _ = build(cfg, 0)
    z, _ = inputs(cfg)
    with pytest.raises(ValueError, match="labels"):
        G(z, None)


def test_discriminator_uses_labels_only_through_projection(conditional_case):
    cfg = make_config(conditional_case)
    _, D = build(cfg, 0)
    x = fake_data(cfg)
    (s0, a0), (s1, a1) = D(x, torch.zeros(BATCH, dtype=torch.long)), D(x, torch.ones(BATCH, dtype=torch.long))
    if cfg.d_conditioning == "projection":
        assert (s0 != s1).all()  # the class embedding enters the score
        with pytest.raises(ValueError, match="labels"):
            D(x, None)
    else:  # acgan: D predicts the class; its outputs do not read the labels
        assert torch.equal(s0, s1) and torch.equal(a0, a1)


# -------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("family", MODELS.names())
def test_pack_with_conditional_is_refused_by_the_config(family):
    extra = TINY.get(family, ({}, []))[0]
    with pytest.raises(ValidationError, match="pack"):
        MODELS.get(family).config(family=family, conditional=True, num_classes=NUM_CLASSES, pack=2, **extra)
    raw = {"data": {"dataset": "fashion-mnist"}, "model": {"family": family, "conditional": True, "pack": 2}}
    with pytest.raises(GanforgeError, match=r"model\.pack") as err:
        build_config(raw)
    assert "\n" not in str(err.value)


def test_packed_discriminator_refuses_a_batch_that_does_not_divide():
    cfg = MODELS.get("mlp").config(family="mlp", output_shape=(2,), pack=2, **TINY["mlp"][0])
    _, D = build(cfg, 0)
    with pytest.raises(ValueError, match="pack"):
        D(torch.zeros(3, 2))


@pytest.mark.parametrize("shape", [(1, 48, 48), (3, 16, 16)])
def test_dcgan_refuses_an_unsupported_resolution(shape):
    cfg = MODELS.get("dcgan").config(family="dcgan", output_shape=shape, width=8)
    family = MODELS.get("dcgan")
    for build_fn in (family.build_generator, family.build_discriminator):
        with pytest.raises((ValueError, GanforgeError), match=rf"28, 32, 64.*{shape[1]}"):
            build_fn(cfg)


@pytest.mark.parametrize("shape", [(2,), (1, 32, 28)])
def test_dcgan_refuses_non_square_or_vector_data(shape):
    cfg = MODELS.get("dcgan").config(family="dcgan", output_shape=shape, width=8)
    with pytest.raises((ValueError, GanforgeError), match="square"):
        MODELS.get("dcgan").build_generator(cfg)


@pytest.mark.parametrize("shape", [(1, 48, 48), (2,)])
def test_dcgan_unsupported_data_shape_is_a_user_error(shape):
    cfg = MODELS.get("dcgan").config(family="dcgan", output_shape=shape, width=8)
    with pytest.raises(GanforgeError):
        MODELS.get("dcgan").build_generator(cfg)


def test_mlp_data_scale_is_standardization_of_the_points():
    """G with data_scale s is s times the unscaled G, and D with data_scale s sees x / s."""
    plain = MODELS.get("mlp").config(family="mlp", output_shape=(2,), **TINY["mlp"][0])
    scaled = plain.model_copy(update={"data_scale": 4.0})
    G1, D1 = build(plain, 0)
    G4, D4 = build(scaled, 0)
    z = torch.randn(16, plain.latent_dim)
    x = 3 * torch.randn(16, 2)
    torch.testing.assert_close(G4(z), 4 * G1(z))
    torch.testing.assert_close(D4(x)[0], D1(x / 4)[0])
    assert not torch.allclose(G4(z), G1(z))


@pytest.mark.parametrize("bad", [0, -2])
def test_mlp_data_scale_must_be_positive(bad):
    raw = {"data": {"dataset": "grid25"}, "model": {"family": "mlp", "data_scale": bad}}
    with pytest.raises(GanforgeError, match=r"model\.data_scale") as err:
        build_config(raw)
    assert "\n" not in str(err.value)


def test_mlp_data_scale_is_refused_for_images():
    cfg = MODELS.get("mlp").config(family="mlp", output_shape=(1, 8, 8), data_scale=4.0, **TINY["mlp"][0])
    family = MODELS.get("mlp")
    for build_fn in (family.build_generator, family.build_discriminator):
        with pytest.raises(GanforgeError, match=r"data_scale=4 applies to vector data") as err:
            build_fn(cfg)
        assert "\n" not in str(err.value)


def test_mlp_latent_codes_change_only_the_samples_of_their_code():
    """Each code has its own embedding row: editing row c moves exactly the samples whose z_0 falls in bin c."""
    cfg = MODELS.get("mlp").config(family="mlp", output_shape=(2,), latent_codes=4, **TINY["mlp"][0])
    G, _ = build(cfg, 0)
    z = torch.randn(64, cfg.latent_dim, generator=torch.Generator().manual_seed(5))
    codes = G.codes.codes(z)
    assert set(codes.tolist()) == {0, 1, 2, 3}
    before = G(z)
    with torch.no_grad():
        G.codes.embed.weight[2] += 1.0
    moved = (G(z) - before).abs().sum(dim=1) > 0
    assert torch.equal(moved, codes == 2)


def test_mlp_without_latent_codes_has_no_code_parameters():
    """latent_codes=0 builds the plain G: same parameters, so older mlp checkpoints still load."""
    cfg = MODELS.get("mlp").config(family="mlp", output_shape=(2,), **TINY["mlp"][0])
    G, _ = build(cfg, 0)
    G5, _ = build(cfg.model_copy(update={"latent_codes": 5}), 0)
    assert G.codes is None and not any("codes" in k for k in G.state_dict())
    assert {k for k in G5.state_dict() if "codes" in k} == {"codes.embed.weight"}


def test_mlp_latent_codes_must_not_be_negative():
    raw = {"data": {"dataset": "grid25"}, "model": {"family": "mlp", "latent_codes": -1}}
    with pytest.raises(GanforgeError, match=r"model\.latent_codes") as err:
        build_config(raw)
    assert "\n" not in str(err.value)
