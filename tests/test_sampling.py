"""Per-image latents, class spreading, batch-norm recalibration and the generator pipeline."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from .builders import tiny_model_config
from ganforge.tasks import build_config
from ganforge.data import FASHION_CLASSES
from ganforge.errors import GanforgeError
from ganforge.models import build_generator
from ganforge.models.layers import TraitEmbedding
from ganforge.pipelines import CONFIG_JSON, WEIGHTS, GeneratorPipeline
from ganforge.sampling import class_labels, latents, recalibrate_batchnorm, truncate

pytestmark = pytest.mark.usefixtures("one_thread")

LATENT = 16


# ----------------------------------------------------------------------------------- latents
def test_latent_of_image_i_is_independent_of_n_and_start():
    many = latents(0, 10, 8)
    assert many.shape == (10, 8) and many.dtype == torch.float32
    assert torch.equal(many[3], latents(0, 1, 8, start=3)[0])
    assert torch.equal(many[4:], latents(0, 6, 8, start=4))
    assert torch.equal(many[:2], latents(0, 2, 8))


def test_latents_differ_between_seeds_and_between_images():
    a, b = latents(0, 6, 8), latents(1, 6, 8)
    assert (a != b).all(dim=1).all()
    assert len({tuple(row.tolist()) for row in a}) == 6


def test_latents_are_standard_normal_and_leave_the_global_rng_alone():
    state = torch.get_rng_state()
    z = latents(3, 1000, 8)
    assert torch.equal(torch.get_rng_state(), state)
    # 8000 draws: the standard error of the mean is ~0.011, of the std ~0.008.
    assert abs(z.mean().item()) < 0.05
    assert abs(z.std().item() - 1) < 0.05


def test_no_latents():
    assert latents(0, 0, 8).shape == (0, 8)


def test_truncate_scales_towards_zero():
    z = torch.tensor([[2.0, -4.0]])
    assert truncate(z, 1.0) is z
    assert torch.equal(truncate(z, 0.5), torch.tensor([[1.0, -2.0]]))
    assert torch.equal(truncate(z, 0.0), torch.zeros(1, 2))


# ------------------------------------------------------------------------------ class_labels
def test_class_labels_spread_evenly_in_blocks():
    labels = class_labels(20, 10)
    assert labels.dtype == torch.int64
    assert labels.tolist() == [k for k in range(10) for _ in range(2)]


@pytest.mark.parametrize("n, k", [(25, 10), (7, 3), (10, 10), (3, 1)])
def test_class_labels_counts_differ_by_at_most_one(n, k):
    labels = class_labels(n, k)
    counts = torch.bincount(labels, minlength=k)
    assert labels.shape == (n,)
    assert (labels[1:] >= labels[:-1]).all()  # blocks: sorted
    assert counts.min() >= 1 and counts.max() - counts.min() <= 1


def test_fewer_labels_than_classes_still_spread():
    assert class_labels(5, 10).tolist() == [0, 2, 4, 6, 8]
    assert class_labels(0, 10).tolist() == []


# --------------------------------------------------------------------- recalibrate_batchnorm
def _tiny_dcgan_config(conditional: bool = True):
    return tiny_model_config("dcgan", conditional=conditional, latent_dim=LATENT)


def _generator(cfg, seed: int = 0) -> torch.nn.Module:
    """A tiny G whose class gains and biases differ, as after training (at init they are 1 and 0)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G = build_generator(cfg.model)
        with torch.no_grad():
            for m in G.modules():
                if isinstance(m, (torch.nn.Embedding, TraitEmbedding)):
                    m.weight.add_(0.5 * torch.randn(m.weight.shape))
    return G


def _bn_buffers(G) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in G.state_dict().items() if "running" in k or "num_batches" in k}


def _recalibrate(G, **kw):
    recalibrate_batchnorm(G, latent_dim=LATENT, num_classes=len(FASHION_CLASSES), batches=4, batch_size=16, **kw)


def test_recalibration_changes_running_statistics_and_leaves_eval_mode():
    G = _generator(_tiny_dcgan_config()).train()
    before = _bn_buffers(G)
    params = {k: v.clone() for k, v in G.named_parameters()}
    momenta = [m.momentum for m in G.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    _recalibrate(G)
    after = _bn_buffers(G)
    assert not G.training and not any(m.training for m in G.modules())
    changed = [k for k in before if "running" in k and not torch.equal(before[k], after[k])]
    assert sorted(changed) == sorted(k for k in before if "running" in k)
    assert all(torch.equal(params[k], v) for k, v in G.named_parameters())
    assert [m.momentum for m in G.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)] == momenta


def test_recalibration_leaves_the_global_rng_alone():
    G = _generator(_tiny_dcgan_config())
    state = torch.get_rng_state()
    _recalibrate(G)
    assert torch.equal(torch.get_rng_state(), state)


def test_recalibration_is_deterministic_and_forgets_old_statistics():
    G1 = _generator(_tiny_dcgan_config())
    G2 = copy.deepcopy(G1)
    with torch.no_grad():
        G2.train()(torch.randn(8, LATENT) * 5, torch.zeros(8, dtype=torch.long))  # stale statistics
    _recalibrate(G1)
    _recalibrate(G2)
    b1, b2 = _bn_buffers(G1), _bn_buffers(G2)
    assert all(torch.equal(b1[k], b2[k]) for k in b1)
    _recalibrate(G2, seed=1)
    b3 = _bn_buffers(G2)
    assert any(not torch.equal(b1[k], b3[k]) for k in b1 if "running" in k)


def test_recalibration_of_a_model_without_batchnorm_only_sets_eval():
    cfg = build_config({"data": {"dataset": "ring8"}, "model": {"family": "mlp", "width": 16, "depth": 2,
                                                               "latent_dim": 2, "output_shape": [2]}})
    G = build_generator(cfg.model).train()
    recalibrate_batchnorm(G, latent_dim=2, num_classes=0)
    assert not G.training


# ---------------------------------------------------------------------------------- pipeline
@pytest.fixture(scope="module")
def pipe() -> GeneratorPipeline:
    """Conditional tiny DCGAN, recalibrated so its images vary (a fresh G draws flat grey)."""
    cfg = _tiny_dcgan_config()
    G = _generator(cfg)
    recalibrate_batchnorm(G, latent_dim=LATENT, num_classes=len(FASHION_CLASSES), batches=4, batch_size=32)
    return GeneratorPipeline(G, cfg, class_names=list(FASHION_CLASSES))


@pytest.fixture(scope="module")
def uncond_pipe() -> GeneratorPipeline:
    cfg = _tiny_dcgan_config(conditional=False)
    G = _generator(cfg)
    recalibrate_batchnorm(G, latent_dim=LATENT, num_classes=0, batches=4, batch_size=32)
    return GeneratorPipeline(G, cfg, class_names=None)


def _all_different(images: np.ndarray) -> bool:
    flat = images.reshape(len(images), -1)
    return len({row.tobytes() for row in flat}) == len(images)


def test_generate_gives_varied_uint8_images(pipe):
    images = pipe.generate(8, classes=3)
    assert images.dtype == np.uint8 and images.shape == (8, 32, 32, 1)
    assert _all_different(images)  # guards every equality test below against a constant G
    assert images.std() > 5


def test_generate_nothing(pipe):
    assert pipe.generate(0).shape == (0, 32, 32, 1)
    with pytest.raises(GanforgeError, match=">= 0"):
        pipe.generate(-1)


def test_images_do_not_depend_on_how_many_are_asked_for(pipe, uncond_pipe):
    assert np.array_equal(pipe.generate(5, classes="bag", seed=2), pipe.generate(20, classes="bag", seed=2)[:5])
    assert np.array_equal(uncond_pipe.generate(5, seed=2), uncond_pipe.generate(20, seed=2)[:5])


def test_seeds_give_different_images(uncond_pipe):
    a, b = uncond_pipe.generate(4, seed=0), uncond_pipe.generate(4, seed=1)
    assert all(not np.array_equal(a[i], b[i]) for i in range(4))


def test_class_by_name_any_case_or_index(pipe):
    sneaker = pipe.generate(4, classes=7)
    assert np.array_equal(pipe.generate(4, classes="Sneaker"), sneaker)
    assert np.array_equal(pipe.generate(4, classes="SNEAKER"), sneaker)
    assert np.array_equal(pipe.generate(4, classes=np.int64(7)), sneaker)
    assert not np.array_equal(pipe.generate(4, classes="trouser"), sneaker)
    assert pipe.labels_for(3, ["trouser", 0, "BAG"]).tolist() == [1, 0, 8]


def test_all_classes_spread_evenly(pipe):
    assert torch.equal(pipe.labels_for(20, "all"), class_labels(20, 10))
    assert torch.equal(pipe.labels_for(20, None), class_labels(20, 10))
    per_image = [FASHION_CLASSES[k] for k in class_labels(20, 10).tolist()]
    assert np.array_equal(pipe.generate(20, classes="all", seed=1), pipe.generate(20, classes=per_image, seed=1))


@pytest.mark.parametrize("bad", ["sneakers", "cat", 10, -1])
def test_unknown_class_lists_the_classes(pipe, bad):
    with pytest.raises(GanforgeError) as err:
        pipe.generate(2, classes=bad)
    message = str(err.value)
    assert "\n" not in message and f"'{bad}'" in message
    assert all(name in message for name in FASHION_CLASSES)


def test_one_class_per_image_needs_exactly_n(pipe):
    with pytest.raises(GanforgeError, match="2 classes for 3 images"):
        pipe.generate(3, classes=["bag", "coat"])


def test_unconditional_model_takes_no_class(uncond_pipe):
    with pytest.raises(GanforgeError, match="unconditional"):
        uncond_pipe.generate(2, classes="bag")
    assert uncond_pipe.generate(2, classes="all").shape == (2, 32, 32, 1)


@pytest.mark.parametrize("psi", [-0.1, 1.5])
def test_truncation_out_of_range(pipe, psi):
    with pytest.raises(GanforgeError, match="truncation"):
        pipe.generate(2, truncation=psi)


def test_truncation_zero_gives_the_mean_image_of_each_class(pipe):
    assert _all_different(pipe.generate(6, classes="coat", truncation=1.0))
    coats = pipe.generate(6, classes="coat", truncation=0.0, seed=9)
    assert all(np.array_equal(coats[0], img) for img in coats)
    assert np.array_equal(coats[0], pipe.generate(1, classes="coat", truncation=0.0, seed=0)[0])
    assert not np.array_equal(coats[0], pipe.generate(1, classes="bag", truncation=0.0)[0])


@pytest.mark.parametrize("n", [1, 3, 33, 70])
def test_raw_output_is_bit_identical_whatever_the_number_asked_for(pipe, n):
    """G runs on fixed-size chunks, so not even the last float bit depends on n."""
    reference, _ = pipe.generate_tensor(70, classes="coat", seed=4)
    out, _ = pipe.generate_tensor(n, classes="coat", seed=4)
    assert torch.equal(out, reference[:n])


@pytest.fixture(scope="module")
def vector_pipe() -> GeneratorPipeline:
    cfg = build_config({"data": {"dataset": "ring8"}, "model": {"family": "mlp", "width": 16, "depth": 2,
                                                               "latent_dim": 2, "output_shape": [2]}})
    return GeneratorPipeline(_generator(cfg), cfg, class_names=None)


def test_vector_model_generates_float_points(vector_pipe):
    points = vector_pipe.generate(7, seed=1)
    assert points.dtype == np.float32 and points.shape == (7, 2)
    assert _all_different(points)


@pytest.mark.parametrize("n", [3, 40])
def test_vector_points_do_not_depend_on_how_many_are_asked_for(vector_pipe, n):
    assert np.array_equal(vector_pipe.generate(n, seed=1), vector_pipe.generate(70, seed=1)[:n])



# ------------------------------------------------------------------------- save and reload
def test_save_pretrained_and_reload_give_identical_images(pipe, tmp_path):
    out = pipe.save_pretrained(tmp_path / "model")
    assert sorted(p.name for p in out.iterdir()) == sorted([CONFIG_JSON, WEIGHTS, "README.md"])
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temporary folder left behind
    loaded = GeneratorPipeline.from_pretrained(out)
    assert loaded.config == pipe.config
    assert loaded.class_names == list(FASHION_CLASSES)
    assert np.array_equal(loaded.generate(12, seed=5), pipe.generate(12, seed=5))
    a, _ = loaded.generate_tensor(12, classes="shirt", seed=5)
    b, _ = pipe.generate_tensor(12, classes="shirt", seed=5)
    assert torch.equal(a, b)


def test_save_pretrained_into_an_existing_empty_folder(pipe, tmp_path):
    (tmp_path / "model").mkdir()
    pipe.save_pretrained(tmp_path / "model")
    assert (tmp_path / "model" / WEIGHTS).is_file()


def test_save_pretrained_refuses_a_non_empty_folder_and_leaves_it_alone(pipe, tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "notes.txt").write_text("mine\n")
    with pytest.raises(GanforgeError, match="not empty") as err:
        pipe.save_pretrained(target)
    assert "\n" not in str(err.value)
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    assert (target / "notes.txt").read_text() == "mine\n"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_from_pretrained_of_a_folder_without_config(tmp_path):
    with pytest.raises(GanforgeError, match="not a valid exported model"):
        GeneratorPipeline.from_pretrained(tmp_path)
