"""Latent tools: lerp/slerp, interpolation, style mixing, projection, and their bad inputs."""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from .builders import TINY_FAMILIES, tiny_model_config
from ganforge import latent as L
from ganforge.tasks import build_config
from ganforge.data import FASHION_CLASSES
from ganforge.errors import GanforgeError
from ganforge.models import build_generator
from ganforge.models.layers import TraitEmbedding
from ganforge.pipelines import GeneratorPipeline
from ganforge.sampling import latents, recalibrate_batchnorm

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = TINY_FAMILIES


def tiny_pipe(family: str, conditional: bool = False, *, channels: int = 1) -> GeneratorPipeline:
    """A tiny random G whose images vary (dcgan: batch norm recalibrated; at init it draws flat grey)."""
    cfg = tiny_model_config(family, conditional=conditional, channels=channels)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        G = build_generator(cfg.model)
        if conditional:  # class gains and biases differ, as after training
            with torch.no_grad():
                for m in G.modules():
                    if isinstance(m, (torch.nn.Embedding, TraitEmbedding)):
                        m.weight.add_(0.5 * torch.randn(m.weight.shape))
    if family == "dcgan":
        recalibrate_batchnorm(G, latent_dim=16, num_classes=cfg.model.num_classes, batches=4, batch_size=32)
    return GeneratorPipeline(G, cfg, class_names=list(FASHION_CLASSES) if conditional else None, source="/m/tiny")


@pytest.fixture(scope="module")
def dcgan():
    return tiny_pipe("dcgan")


@pytest.fixture(scope="module")
def cgan():
    return tiny_pipe("dcgan", conditional=True)


@pytest.fixture(scope="module")
def sg():
    return tiny_pipe("stylegan")


@pytest.fixture(scope="module")
def csg():
    return tiny_pipe("stylegan", conditional=True)


def one_line_error(excinfo, *needles: str) -> None:
    message = str(excinfo.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, (needle, message)


# ------------------------------------------------------------------------------- lerp, slerp
def test_lerp_is_linear_with_exact_endpoints():
    a, b = torch.randn(2, 64, generator=torch.Generator().manual_seed(0))
    assert torch.equal(L.lerp(a, b, 0.0), a) and torch.equal(L.lerp(a, b, 1.0), b)
    t = torch.linspace(0, 1, 9)[:, None]
    path = L.lerp(a, b, t)
    steps = path[1:] - path[:-1]
    torch.testing.assert_close(steps, (b - a).expand_as(steps) / 8, rtol=0, atol=1e-5)  # equal strides on a line


def test_slerp_endpoints_are_the_keyframes_exactly():
    a, b = torch.randn(2, 4, 512, generator=torch.Generator().manual_seed(1))
    assert torch.equal(L.slerp(a, b, 0.0), a) and torch.equal(L.slerp(a, b, 1.0), b)
    assert L.slerp(a, b, 0.3).dtype == torch.float32


def test_slerp_keeps_the_norm_where_lerp_cuts_the_corner():
    e1, e2 = torch.eye(2, dtype=torch.float64)
    torch.testing.assert_close(L.slerp(e1, e2, 0.5), torch.tensor([1.0, 1.0], dtype=torch.float64) / math.sqrt(2))
    assert L.lerp(e1, e2, 0.5).norm().item() == pytest.approx(1 / math.sqrt(2))
    # Two 512-d Gaussian latents: slerp's midpoint keeps their norm (~sqrt(512)), lerp's shrinks by ~1/sqrt(2).
    a, b = torch.randn(2, 512, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    b = b * a.norm() / b.norm()
    norms = L.slerp(a, b, torch.linspace(0, 1, 11, dtype=torch.float64)[:, None]).norm(dim=1)
    torch.testing.assert_close(norms, a.norm().expand(11), rtol=1e-12, atol=0)
    assert L.lerp(a, b, 0.5).norm() < 0.8 * a.norm()


def test_slerp_moves_at_constant_angular_speed_between_equal_norms():
    a, b = torch.randn(2, 32, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    b = b * a.norm() / b.norm()  # on one sphere: the great circle at constant speed
    omega = torch.arccos(torch.dot(a, b) / (a.norm() * b.norm()))
    for t in (0.1, 0.25, 0.5, 0.9):
        p = L.slerp(a, b, t)
        angle = torch.arccos(torch.dot(a, p) / (a.norm() * p.norm()))
        assert angle.item() == pytest.approx(t * omega.item(), rel=1e-9)


def test_slerp_of_parallel_and_near_parallel_vectors_falls_back_to_lerp():
    a = torch.randn(16, generator=torch.Generator().manual_seed(4))
    for b in (2 * a, a + 1e-7 * torch.randn(16, generator=torch.Generator().manual_seed(5)), -a):
        out = L.slerp(a, b, 0.3)
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out, L.lerp(a, b, 0.3), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------ interpolate
def test_interpolation_frames_and_keyframes_equal_generate(dcgan):
    seeds = [3, 5, 9]
    frames = L.interpolate(dcgan, seeds=seeds, steps=4)
    assert frames.shape == (11, 32, 32, 1) and frames.dtype == np.uint8
    for i, seed in enumerate(seeds):
        # Same latent, same chunk shape as generate: bit for bit, not just close.
        assert np.array_equal(frames[5 * i], dcgan.generate(1, seed=seed)[0])
    assert len({f.tobytes() for f in frames}) == 11  # the in-betweens are new images
    assert torch.equal(latents(5, 1, 16)[0], latents(5, 3, 16)[0])  # "seed s" = image 0 of seed s


def test_interpolation_without_in_betweens_gives_the_keyframes(dcgan):
    frames = L.interpolate(dcgan, seeds=[1, 2, 3, 4], steps=0)
    assert np.array_equal(frames, np.concatenate([dcgan.generate(1, seed=s) for s in (1, 2, 3, 4)]))


def test_lerp_and_slerp_share_keyframes_but_not_the_path(dcgan):
    lin = L.interpolate(dcgan, seeds=[1, 2], steps=3, method="lerp")
    sph = L.interpolate(dcgan, seeds=[1, 2], steps=3, method="slerp")
    assert np.array_equal(lin[[0, -1]], sph[[0, -1]])
    assert not np.array_equal(lin[2], sph[2])


def test_conditional_interpolation_uses_the_class_and_truncation_like_generate(cgan):
    frames = L.interpolate(cgan, seeds=[7, 8], steps=2, classes="Bag", psi=0.5)
    assert np.array_equal(frames[0], cgan.generate(1, classes="bag", seed=7, truncation=0.5)[0])
    assert np.array_equal(frames[-1], cgan.generate(1, classes=8, seed=8, truncation=0.5)[0])
    assert not np.array_equal(frames, L.interpolate(cgan, seeds=[7, 8], steps=2, classes="coat", psi=0.5))


def test_conditional_model_needs_one_class(cgan):
    for classes in (None, "all"):
        with pytest.raises(GanforgeError) as err:
            L.interpolate(cgan, seeds=[1, 2], steps=1, classes=classes)
        one_line_error(err, "class-conditional", "--class", *FASHION_CLASSES)
    with pytest.raises(GanforgeError, match="unknown class 'sneakers'"):
        L.interpolate(cgan, seeds=[1, 2], steps=1, classes="sneakers")


def test_unconditional_model_takes_no_class(dcgan):
    with pytest.raises(GanforgeError, match="unconditional"):
        L.interpolate(dcgan, seeds=[1, 2], steps=1, classes="bag")


@pytest.mark.parametrize("kwargs, needle", [
    ({"seeds": [1]}, "at least 2"),
    ({"steps": -1}, ">= 0"),
    ({"method": "cubic"}, "lerp, slerp"),
    ({"space": "q"}, "unknown latent space 'q'"),
    ({"psi": 1.5}, "between 0 and 1"),
    ({"seeds": list(range(100)), "steps": 200}, "too many"),
])
def test_bad_interpolation_arguments(dcgan, kwargs, needle):
    with pytest.raises(GanforgeError) as err:
        L.interpolate(dcgan, **{"seeds": [1, 2], "steps": 2, **kwargs})
    one_line_error(err, needle)


def test_w_space_needs_a_mapping_network(dcgan):
    for call in (lambda: L.interpolate(dcgan, seeds=[1, 2], steps=1, space="w"),
                 lambda: L.project(dcgan, np.zeros((32, 32), np.uint8), space="w+", steps=1, progress=False)):
        with pytest.raises(GanforgeError) as err:
            call()
        one_line_error(err, "'tiny' (dcgan) has no mapping network; use --space z")
    with pytest.raises(GanforgeError) as err:
        L.style_mix(dcgan, row_seeds=[1], col_seeds=[2])
    one_line_error(err, "no mapping network", "stylegan")


def test_point_models_are_refused():
    cfg = build_config({"data": {"dataset": "ring8"},
                        "model": {"family": "mlp", "width": 8, "depth": 2, "latent_dim": 2, "output_shape": [2]}})
    pipe = GeneratorPipeline(build_generator(cfg.model), cfg, class_names=None)
    with pytest.raises(GanforgeError, match="2D points, not images"):
        L.interpolate(pipe, seeds=[1, 2], steps=1)


@pytest.mark.parametrize("space", ["z", "w"])
def test_stylegan_keyframes_equal_generate(sg, space):
    frames = L.interpolate(sg, seeds=[4, 6], steps=3, space=space)
    assert frames.shape == (5, 32, 32, 1)
    assert np.array_equal(frames[0], sg.generate(1, seed=4)[0])
    assert np.array_equal(frames[-1], sg.generate(1, seed=6)[0])
    assert len({f.tobytes() for f in frames}) == 5


def test_stylegan_default_space_is_w_and_lerp(sg):
    assert np.array_equal(L.interpolate(sg, seeds=[1, 2], steps=3),
                          L.interpolate(sg, seeds=[1, 2], steps=3, space="w", method="lerp"))
    assert not np.array_equal(L.interpolate(sg, seeds=[1, 2], steps=3, space="w", method="slerp")[2],
                              L.interpolate(sg, seeds=[1, 2], steps=3, space="w", method="lerp")[2])


def test_conditional_stylegan_w_walk(csg):
    frames = L.interpolate(csg, seeds=[1, 2], steps=2, classes="sneaker", space="w")
    assert np.array_equal(frames[-1], csg.generate(1, classes="sneaker", seed=2)[0])


def test_truncation_in_w_pulls_every_keyframe_to_the_average(sg):
    frames = L.interpolate(sg, seeds=[1, 2, 3], steps=1, space="w", psi=0.0)
    assert all(np.array_equal(frames[0], f) for f in frames)  # every frame is the image of w_avg


# -------------------------------------------------------------------------------- style mix
def test_style_mix_grid_layout(sg):
    mix = L.style_mix_images(sg, row_seeds=[1, 2, 3], col_seeds=[4, 5])
    assert mix.cells.shape == (3, 2, 32, 32, 1) and mix.layers == list(range(sg.generator.num_ws // 2))
    assert np.array_equal(mix.rows, np.concatenate([sg.generate(1, seed=s) for s in (1, 2, 3)]))
    grid = L.style_mix(sg, row_seeds=[1, 2, 3], col_seeds=[4, 5])
    pad = 2
    assert grid.shape == (4 * (32 + pad) + pad, 3 * (32 + pad) + pad, 1)

    def tile(r: int, c: int) -> np.ndarray:
        y, x = pad + r * (32 + pad), pad + c * (32 + pad)
        return grid[y : y + 32, x : x + 32]

    assert (tile(0, 0) == 255).all()  # blank corner
    assert np.array_equal(tile(0, 2), mix.cols[1]) and np.array_equal(tile(3, 0), mix.rows[2])
    assert np.array_equal(tile(2, 1), mix.cells[1, 0])


def test_mixed_cells_differ_from_both_sources(sg):
    mix = L.style_mix_images(sg, row_seeds=[1, 2], col_seeds=[3, 4], layers=range(0, 4))
    for r in range(2):
        for c in range(2):
            assert not np.array_equal(mix.cells[r, c], mix.rows[r])
            assert not np.array_equal(mix.cells[r, c], mix.cols[c])


def test_no_mixed_layers_gives_the_row_and_all_layers_the_column(sg):
    none = L.style_mix_images(sg, row_seeds=[1, 2], col_seeds=[3, 4], layers=[])
    every = L.style_mix_images(sg, row_seeds=[1, 2], col_seeds=[3, 4], layers=slice(0, None))
    for r in range(2):
        for c in range(2):
            assert np.array_equal(none.cells[r, c], none.rows[r])
            assert np.array_equal(every.cells[r, c], every.cols[c])


def test_style_mix_bad_layers_and_seeds(sg, csg):
    with pytest.raises(GanforgeError) as err:
        L.style_mix(sg, row_seeds=[1], col_seeds=[2], layers=[0, 9])
    one_line_error(err, "style layer 9 does not exist", "9 style layers, 0-8")
    with pytest.raises(GanforgeError, match="at least one row seed"):
        L.style_mix(sg, row_seeds=[], col_seeds=[2])
    with pytest.raises(GanforgeError, match="class-conditional"):
        L.style_mix(csg, row_seeds=[1], col_seeds=[2])
    assert L.style_mix(csg, row_seeds=[1], col_seeds=[2], classes="bag").shape == (70, 70, 1)


# ------------------------------------------------------------------------------- projection
def start_mse(pipe, target, **kw) -> float:
    """Error of the starting latent: one step leaves it unchanged (the learning rate warms up from 0)."""
    return L.project(pipe, target, steps=1, progress=False, **kw).mse


@pytest.mark.parametrize("fixture, space, cls", [("dcgan", "z", None), ("cgan", "z", "coat"), ("sg", "w", None),
                                                 ("sg", "w+", None)])
@pytest.mark.slow
def test_projection_recovers_an_image_of_the_generator(request, fixture, space, cls):
    pipe = request.getfixturevalue(fixture)
    target = pipe.generate(1, classes=cls, seed=11)[0]
    result = L.project(pipe, target, space=space, steps=40, classes=cls, progress=False)
    assert result.space == space and result.steps == 40 and result.perceptual
    assert result.mse < 0.25 * start_mse(pipe, target, space=space, classes=cls)
    assert result.psnr == pytest.approx(10 * math.log10(1 / result.mse))
    assert np.array_equal(result.reconstruction, L.render_latent(pipe, result.latent, space=space, classes=cls))
    assert result.history[-1]["lr"] < result.history[len(result.history) // 2]["lr"]  # ramped down


def test_projection_latent_shapes(sg):
    target = sg.generate(1, seed=1)[0]
    shapes = {space: L.project(sg, target, space=space, steps=1, progress=False).latent.shape for space in L.SPACES}
    assert shapes == {"z": (16,), "w": (16,), "w+": (sg.generator.num_ws, 16)}


@pytest.mark.slow
def test_projection_is_deterministic_for_a_seed(sg):
    target = sg.generate(1, seed=2)[0]
    a, b, c = (L.project(sg, target, steps=8, seed=s, progress=False) for s in (0, 0, 1))
    assert torch.equal(a.latent, b.latent) and a.history == b.history
    assert not torch.equal(a.latent, c.latent)  # the seed drives the exploration noise


def test_projection_leaves_the_model_and_the_global_rng_alone(dcgan):
    state = torch.get_rng_state()
    before = {k: v.clone() for k, v in dcgan.generator.state_dict().items()}
    L.project(dcgan, dcgan.generate(1, seed=3)[0], steps=5, progress=False)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(before[k], v) for k, v in dcgan.generator.state_dict().items())
    assert not dcgan.generator.training and not any(p.requires_grad for p in dcgan.generator.parameters())


def test_pixel_only_projection_and_where_perceptual_does_not_apply(dcgan):
    target = dcgan.generate(1, seed=4)[0]
    assert not L.project(dcgan, target, steps=2, perceptual=False, progress=False).perceptual
    rgb = tiny_pipe("dcgan", channels=3)
    rgb_target = rgb.generate(1, seed=4)[0]
    assert not L.project(rgb, rgb_target, steps=2, progress=False).perceptual  # default: off where it does not fit
    with pytest.raises(GanforgeError, match="1-channel 28 or 32 px Fashion-MNIST"):
        L.project(rgb, rgb_target, steps=2, perceptual=True, progress=False)


def test_target_files_are_converted_to_the_model(dcgan, tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "photo.png")
    target = L.load_target(dcgan, tmp_path / "photo.png")
    assert target.shape == (32, 32, 1) and target.dtype == np.uint8
    assert np.array_equal(target, L.load_target(dcgan, pixels))  # array and file take the same route
    result = L.project(dcgan, str(tmp_path / "photo.png"), steps=1, progress=False)
    assert np.array_equal(result.target, target)


def bomb_png(path, width: int, height: int):
    """A 1 x 1 PNG whose header claims width x height: huge to a reader, tiny on disk."""
    Image.new("L", (1, 1)).save(path, format="PNG")
    data = bytearray(path.read_bytes())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


def test_bad_target_images(dcgan, tmp_path):
    (tmp_path / "notes.png").write_bytes(b"a shopping list, not a picture\n" * 10)
    cases = [
        (tmp_path / "notes.png", "not an image"),
        (bomb_png(tmp_path / "bomb.png", 5000, 5000), "too large: 5000 x 5000"),
        (tmp_path / "missing.png", "cannot read"),
        (np.zeros((32, 32), np.float32), "uint8"),
        (torch.zeros(1, 28, 28), "model's shape (1, 32, 32)"),
        ([1, 2, 3], "not list"),
    ]
    for target, needle in cases:
        with pytest.raises(GanforgeError) as err:
            L.project(dcgan, target, steps=1, progress=False)
        one_line_error(err, needle)


def test_bad_projection_arguments(dcgan, cgan):
    target = np.zeros((32, 32, 1), np.uint8)
    with pytest.raises(GanforgeError, match="steps must be >= 1"):
        L.project(dcgan, target, steps=0, progress=False)
    with pytest.raises(GanforgeError, match="learning rate"):
        L.project(dcgan, target, lr=0, progress=False)
    with pytest.raises(GanforgeError, match="class-conditional"):
        L.project(cgan, target, steps=1, progress=False)


def test_projection_file_round_trip(csg, tmp_path):
    from safetensors.torch import save_file

    target = csg.generate(1, classes="dress", seed=5)[0]
    result = L.project(csg, target, space="w+", steps=3, classes="dress", progress=False)
    tensors = L.projection_tensors(result, csg)
    assert torch.equal(tensors["ws"], result.latent)  # w+ is already one w per layer
    save_file(tensors, tmp_path / "p.safetensors", metadata=L.projection_metadata(result, csg, model="m"))
    loaded, meta = L.load_projection(tmp_path / "p.safetensors")
    assert meta["space"] == "w+" and meta["class"] == "dress" and meta["label"] == "3" and meta["model"] == "m"
    again = L.render_latent(csg, loaded["latent"], space=meta["space"], classes=int(meta["label"]))
    assert np.array_equal(again, result.reconstruction)
    w = L.project(csg, target, space="w", steps=1, classes="dress", progress=False)
    assert L.projection_tensors(w, csg)["ws"].shape == (csg.generator.num_ws, 16)
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    with pytest.raises(GanforgeError, match="corrupt"):
        L.load_projection(tmp_path / "junk.safetensors")
