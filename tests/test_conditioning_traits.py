"""Several traits end to end: the shapes-traits data, every family's G and D per trait, the
pipeline's partial choices (the rest drawn per seed), the CLI flags and a tiny training run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import ganforge
from ganforge.config import DataConfig
from ganforge.data import Dataset, build_dataset
from ganforge.data.shapes_traits import SHAPES_TRAITS
from ganforge.errors import GanforgeError
from ganforge.models import build_discriminator, build_generator
from ganforge.models.layers import DiscriminatorHead, trait_cross_entropy
from ganforge.sampling import latents, random_traits
from ganforge.tasks.noise_to_image import NoiseToImageTask

from .builders import TINY_FAMILIES, stir_traits, tiny_config, tiny_trait_config, tiny_trait_model
from .test_cli import assert_one_line_error, run_cli
from .test_conditioning import one_line

SIZES = SHAPES_TRAITS.sizes  # (3, 4, 2)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_trait_model(tmp_path_factory.mktemp("traits") / "tiny-traits", seed=3)


@pytest.fixture(scope="module")
def pipe(model_dir):
    return ganforge.load(model_dir)


# ------------------------------------------------------------------------------------ data
def test_shapes_traits_declares_its_traits_and_labels_are_n_by_t():
    ds = build_dataset(DataConfig(dataset="shapes-traits", resolution=32, channels=3, limit=300))
    assert ds.data.shape == (300, 3, 32, 32) and ds.data.dtype == torch.uint8
    assert ds.labels.shape == (300, 3) and ds.labels.dtype == torch.int64
    assert ds.conditioning is SHAPES_TRAITS and ds.conditioning.names == ("shape", "colour", "size")
    for t, k in enumerate(SIZES):  # every value of every trait occurs
        assert sorted(ds.labels[:, t].unique().tolist()) == list(range(k))
    # the colour trait is the shape's colour: red shapes have more red than blue in their pixels
    red, blue = ds.labels[:, 1] == 0, ds.labels[:, 1] == 2
    rgb = ds.data.float().mean(dim=(2, 3))
    assert (rgb[red, 0] > rgb[red, 2]).all() and (rgb[blue, 2] > rgb[blue, 0]).all()
    # large shapes cover more of the image than small ones
    cover = (ds.data.float() - 235).abs().sum(1).gt(30).float().mean(dim=(1, 2))
    assert cover[ds.labels[:, 2] == 1].min() > cover[ds.labels[:, 2] == 0].max()
    # limit keeps a prefix
    small = build_dataset(DataConfig(dataset="shapes-traits", resolution=32, channels=3, limit=20))
    assert torch.equal(small.data, ds.data[:20]) and torch.equal(small.labels, ds.labels[:20])


def test_a_dataset_with_traits_refuses_labels_that_do_not_fit():
    data = torch.zeros(4, 1, 8, 8, dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        Dataset("x", data, labels=torch.zeros(4, dtype=torch.long), traits=SHAPES_TRAITS)
    with pytest.raises(ValueError, match="outside"):
        Dataset("x", data, labels=torch.tensor([[0, 0, 2]] * 4), traits=SHAPES_TRAITS)
    one_class = Dataset("x", data, labels=torch.zeros(4, dtype=torch.long), class_names=["a", "b"])
    assert one_class.conditioning.names == ("class",) and one_class.conditioning.sizes == (2,)
    assert not Dataset("x", data).conditioning.conditional


def test_resolve_config_fills_traits_and_keeps_one_class_models_as_they_were():
    ds = build_dataset(DataConfig(dataset="shapes-traits", resolution=32, channels=3, limit=16))
    cfg = NoiseToImageTask.resolve_config(tiny_config({"data.dataset": "shapes-traits", "data.channels": 3}), ds)
    assert [t.name for t in cfg.model.traits] == ["shape", "colour", "size"]
    assert cfg.model.num_classes == 0 and cfg.model.label_sizes == SIZES
    fashion = build_dataset(tiny_config().data)
    cfg = NoiseToImageTask.resolve_config(tiny_config(), fashion)
    assert cfg.model.traits is None and cfg.model.num_classes == 10 and cfg.model.label_sizes == (10,)
    uncond = NoiseToImageTask.resolve_config(tiny_config({"model.conditional": False}), ds)
    assert uncond.model.traits is None and uncond.model.label_sizes == ()


# --------------------------------------------------------------------------------- networks
@pytest.mark.parametrize("d_conditioning", ["projection", "acgan"])
@pytest.mark.parametrize("family", sorted(TINY_FAMILIES))
def test_every_family_takes_n_by_t_labels_and_every_trait_reaches_g_and_d(family, d_conditioning):
    cfg = tiny_trait_config(family, d_conditioning=d_conditioning)
    torch.manual_seed(0)
    G, D = build_generator(cfg.model).eval(), build_discriminator(cfg.model).eval()
    stir_traits(G)
    n = 6
    z = torch.randn(n, cfg.model.latent_dim)
    y = torch.stack([torch.arange(n) % k for k in SIZES], dim=1)
    with torch.no_grad():
        x = G(z, y)
        score, logits = D(x, y)
    assert x.shape == (n, 3, 32, 32) and score.shape == (n,)
    assert (logits is None) == (d_conditioning == "projection")
    if logits is not None:
        assert logits.shape == (n, sum(SIZES))
    with pytest.raises(ValueError):
        G(z, y[:, :2])  # one column short
    for t, k in enumerate(SIZES):  # changing one trait alone changes G's image and D's judgement
        other = y.clone()
        other[:, t] = (other[:, t] + 1) % k
        with torch.no_grad():
            assert (G(z, other) - x).abs().amax(dim=(1, 2, 3)).min() > 0, (family, t)
            if d_conditioning == "projection":
                assert (D(x, other)[0] - score).abs().min() > 0, (family, t)


def test_projection_is_the_sum_of_one_term_per_trait():
    torch.manual_seed(0)
    head = DiscriminatorHead(5, num_classes=(3, 4), conditioning="projection", sn=False)
    h, y = torch.randn(7, 5), torch.stack([torch.arange(7) % 3, torch.arange(7) % 4], dim=1)
    score, _ = head(h, y)
    base = head.score(h).squeeze(1)
    table = head.embed.weight
    terms = (table[y[:, 0]] * h).sum(1) + (table[3 + y[:, 1]] * h).sum(1)
    torch.testing.assert_close(score, base + terms)


def test_auxiliary_loss_is_one_cross_entropy_per_trait():
    logits, y = torch.randn(6, 7), torch.stack([torch.arange(6) % 3, torch.arange(6) % 4], dim=1)
    expected = F.cross_entropy(logits[:, :3], y[:, 0]) + F.cross_entropy(logits[:, 3:], y[:, 1])
    torch.testing.assert_close(trait_cross_entropy(logits, y, (3, 4)), expected)
    assert torch.equal(trait_cross_entropy(logits, y[:, 0], (7,)), F.cross_entropy(logits, y[:, 0]))


# --------------------------------------------------------------------------------- pipeline
def test_chosen_traits_are_in_every_image_and_the_rest_are_drawn_per_seed(pipe):
    _, y = pipe.generate_tensor(40, seed=5, traits={"colour": "blue", "SIZE": "large"})
    assert y.shape == (40, 3)
    assert (y[:, 1] == 2).all() and (y[:, 2] == 1).all()
    assert sorted(y[:, 0].unique().tolist()) == [0, 1, 2]  # shape left out: drawn, all values occur
    _, again = pipe.generate_tensor(40, seed=5, traits=["colour=blue", "size=large"])
    assert torch.equal(y, again)  # deterministic for a seed, whichever form the choice takes
    _, other = pipe.generate_tensor(40, seed=6, traits={"colour": "blue", "size": "large"})
    assert not torch.equal(y[:, 0], other[:, 0])
    # image i of a seed is the same whatever n
    images = pipe.generate(40, seed=5, traits={"colour": "blue"})
    np.testing.assert_array_equal(pipe.generate(3, seed=5, traits={"colour": "blue"}), images[:3])
    # no choice at all: every trait drawn at random, per image
    _, drawn = pipe.generate_tensor(40, seed=5)
    assert torch.equal(drawn, random_traits(5, 40, SIZES))


def test_python_api_generate_with_traits(pipe):
    images = pipe.generate(16, traits={"shape": "circle"}, seed=1)
    assert images.shape == (16, 32, 32, 3) and images.dtype == np.uint8
    assert not np.array_equal(images, pipe.generate(16, traits={"shape": "square"}, seed=1))


def test_changing_one_trait_keeps_the_latents_and_the_other_traits(pipe, monkeypatch):
    seen = []
    run = pipe.run_generator
    monkeypatch.setattr(pipe, "run_generator", lambda z, y, t=1.0: (seen.append((z.clone(), y.clone())), run(z, y, t))[1])
    out, labels = pipe.trait_variations("colour", 5, seed=9, traits={"size": "small"})
    assert out.shape == (4, 5, 3, 32, 32) and labels.shape == (4, 5, 3)
    assert all(torch.equal(seen[0][0], z) for z, _ in seen)  # the same latents for every value
    for v in range(4):
        assert (labels[v, :, 1] == v).all() and (labels[v, :, 2] == 0).all()
        assert torch.equal(labels[v, :, 0], labels[0, :, 0])  # the drawn shape stays
    assert all(not torch.equal(out[0], out[v]) for v in range(1, 4))
    assert torch.equal(seen[0][0][:5], latents(9, 5, pipe.config.model.latent_dim))


@pytest.mark.parametrize("traits, needles", [
    ({"hair": "red"}, ["unknown trait 'hair'", "shape, colour, size"]),
    ({"colour": "purple"}, ["unknown colour 'purple'", "red, green, blue, yellow"]),
    ({"colour": "bleu"}, ["did you mean 'blue'"]),
    (["colour"], ["name=value", "shape, colour, size"]),
    (["colour=red", "Colour=blue"], ["given twice"]),
])
def test_unknown_traits_and_values_are_refused_in_one_line_listing_the_accepted(pipe, traits, needles):
    with pytest.raises(GanforgeError) as err:
        pipe.generate(2, traits=traits)
    message = one_line(err, *needles)
    assert ", or all" not in message  # "all" is no value of a --trait


def test_classes_and_traits_do_not_combine_and_unconditional_models_take_no_traits(pipe):
    with pytest.raises(GanforgeError) as err:
        pipe.generate(2, classes="all", traits={"shape": "circle"})
    one_line(err, "not both")
    with pytest.raises(GanforgeError) as err:
        ganforge.load("fashion-dcgan").generate(2, traits={"class": "bag"})
    one_line(err, "unconditional", "no traits")


def test_a_one_class_model_takes_its_class_as_a_trait():
    model = ganforge.load("fashion-cgan")
    np.testing.assert_array_equal(model.generate(4, traits={"class": "bag"}, seed=2),
                                  model.generate(4, classes="bag", seed=2))


def test_describe_and_the_card_show_the_traits(pipe, model_dir):
    d = pipe.describe()
    assert d["conditioning"] == SHAPES_TRAITS.to_json() and d["classes"] is None
    schema = d["traits_schema"]
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert {k: v["enum"] for k, v in schema["properties"].items()} == {t.name: list(t.values) for t in SHAPES_TRAITS.traits}
    assert ganforge.load("fashion-cgan").describe()["traits_schema"] is None
    card = (model_dir / "README.md").read_text()
    assert "| traits | shape: circle, square, triangle; colour: red, green, blue, yellow; size: small, large |" in card
    assert "--trait shape=circle" in card


# ---------------------------------------------------------------------------------------- CLI
def test_cli_list_traits(model_dir, monkeypatch, capsys):
    code, out, err = run_cli(monkeypatch, capsys, "generate", model_dir, "--list-traits")
    assert code == 0, err
    assert out.splitlines() == ["shape: circle, square, triangle", "colour: red, green, blue, yellow",
                                "size: small, large"]
    code, out, _ = run_cli(monkeypatch, capsys, "generate", "fashion-cgan", "--list-traits")
    assert code == 0 and out.startswith("class: t-shirt/top, trouser")


def test_cli_traits_to_a_folder_write_traits_json(pipe, model_dir, monkeypatch, capsys, tmp_path):
    out = tmp_path / "shapes"
    code, _, err = run_cli(monkeypatch, capsys, "generate", model_dir, "--trait", "colour=red", "--trait",
                           "shape=triangle", "-n", 5, "--seed", 4, "--out", out)
    assert code == 0, err
    saved = json.loads((out / "traits.json").read_text())
    names = sorted(p.name for p in out.glob("*.png"))
    assert sorted(saved) == names == [f"seed4-00000{i}.png" for i in range(5)]
    expected = pipe.generate(5, seed=4, traits={"colour": "red", "shape": "triangle"})
    _, labels = pipe.generate_tensor(5, seed=4, traits={"colour": "red", "shape": "triangle"})
    for i, name in enumerate(names):
        assert saved[name]["colour"] == "red" and saved[name]["shape"] == "triangle"
        assert saved[name]["size"] == SHAPES_TRAITS.traits[2].values[int(labels[i, 2])]
        np.testing.assert_array_equal(np.asarray(Image.open(out / name)), expected[i])


def test_cli_traits_to_npz_keep_indices_and_names(pipe, model_dir, monkeypatch, capsys, tmp_path):
    code, _, err = run_cli(monkeypatch, capsys, "generate", model_dir, "--trait", "size=small", "-n", 6,
                           "--out", tmp_path / "s.npz")
    assert code == 0, err
    data = np.load(tmp_path / "s.npz")
    assert data["trait_names"].tolist() == ["shape", "colour", "size"]
    assert data["labels"].shape == (6, 3) and (data["labels"][:, 2] == 0).all()
    for row, names in zip(data["labels"], data["trait_values"]):
        assert [t.values[v] for t, v in zip(SHAPES_TRAITS.traits, row)] == names.tolist()
    np.testing.assert_array_equal(data["images"], pipe.generate(6, seed=0, traits={"size": "small"}))


@pytest.mark.parametrize("args, needles", [
    (["--trait", "hue=red"], ["unknown trait 'hue'", "shape, colour, size"]),
    (["--trait", "colour=pink"], ["unknown colour 'pink'", "red, green, blue, yellow"]),
    (["--trait", "colour"], ["name=value"]),
])
def test_cli_refuses_unknown_traits_in_one_line_and_writes_nothing(model_dir, monkeypatch, capsys, tmp_path, args,
                                                                  needles):
    for out in (tmp_path / "dir", tmp_path / "x.png", tmp_path / "x.npz"):
        code, _, err = run_cli(monkeypatch, capsys, "generate", model_dir, *args, "-n", 2, "--out", out)
        assert_one_line_error(code, err, *needles)
        assert not out.exists()


def test_cli_needs_out_unless_listing(model_dir, monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "generate", model_dir, "-n", 2)
    assert_one_line_error(code, err, "--out is required")


def test_cli_info_lists_the_traits(model_dir, monkeypatch, capsys):
    code, out, err = run_cli(monkeypatch, capsys, "info", model_dir)
    assert code == 0, err
    assert "traits:     shape (circle, square, triangle); colour (red, green, blue, yellow); size (small, large)" in out


# ------------------------------------------------------------------------------- training
@pytest.mark.parametrize("family, extra", [
    ("dcgan", {}),
    ("stylegan", {"model.width": 8, "model.max_channels": 16, "model.w_dim": 16, "model.mapping_layers": 2,
                  "model.d_conditioning": "acgan", "model.spectral_norm": False}),
])
def test_a_tiny_multi_trait_run_trains_saves_loads_and_generates_with_traits(family, extra, tmp_path):
    from ganforge.training.loop import Trainer

    cfg = tiny_config({"data.dataset": "shapes-traits", "data.channels": 3, "data.limit": 128, "train.kimg": 0.064,
                       "model.family": family, **extra})
    Trainer(cfg, tmp_path / "run", quiet=True).fit()
    run = ganforge.load(tmp_path / "run")
    assert run.conditioning.names == ("shape", "colour", "size")
    exported = ganforge.service.export(tmp_path / "run", tmp_path / "model")
    model = ganforge.load(exported)
    assert model.conditioning == run.conditioning
    images = model.generate(8, traits={"shape": "square", "colour": "green"}, seed=1)
    assert images.shape == (8, 32, 32, 3)
    np.testing.assert_array_equal(images, run.generate(8, traits={"shape": "square", "colour": "green"}, seed=1))
    assert not np.array_equal(images, model.generate(8, traits={"shape": "circle", "colour": "green"}, seed=1))
    assert (tmp_path / "run" / "samples").is_dir()
