"""Run configs: presets validate, overrides parse, and every mistake is one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ganforge.config import RESUME_OVERRIDABLE, apply_overrides, config_to_dict, parse_overrides
from ganforge.tasks import TASKS, RunConfig, build_config, load_config
from ganforge.data import DATASETS
from ganforge.errors import GanforgeError
from ganforge.losses import LOSSES
from ganforge.models import MODELS

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
PRESETS = sorted(CONFIGS.glob("*.yaml"))
BASE = {"data": {"dataset": "fashion-mnist"}, "model": {"family": "dcgan"}}


def user_error(raw=None, *, path=None, overrides=()) -> str:
    """The message of the GanforgeError that building ``raw`` (or loading ``path``) raises."""
    with pytest.raises(GanforgeError) as err:
        if path is not None:
            load_config(path, overrides)
        else:
            build_config(raw)
    message = str(err.value)
    assert "\n" not in message, f"error is not one line: {message!r}"
    return message


def with_(section: str, value) -> dict:
    return {**BASE, section: value}


# ----------------------------------------------------------------------------------- presets
def test_presets_are_found():
    assert len(PRESETS) >= 4, f"expected the presets in {CONFIGS}"


@pytest.mark.parametrize("path", PRESETS, ids=[p.stem for p in PRESETS])
def test_every_preset_validates_and_round_trips(path):
    cfg = load_config(path)
    assert isinstance(cfg, TASKS.get(cfg.task).config)
    assert cfg.name == path.stem
    if isinstance(cfg, RunConfig):  # noise -> image: the model section is its family's config
        assert cfg.model.family in MODELS
        assert type(cfg.model) is MODELS.get(cfg.model.family).config
    assert build_config(config_to_dict(cfg)) == cfg  # what is saved next to a run reloads equal


@pytest.mark.parametrize("path", PRESETS, ids=[p.stem for p in PRESETS])
def test_every_preset_value_reaches_the_config(path):
    raw = yaml.safe_load(path.read_text())
    cfg = load_config(path)
    for section, values in raw.items():
        if not isinstance(values, dict):
            assert getattr(cfg, section) == values, section
            continue
        for key, value in values.items():
            got = getattr(getattr(cfg, section), key)
            assert got in ((tuple(value), value) if isinstance(value, list) else (value,)), f"{section}.{key}"


# ------------------------------------------------------------------------------ unknown keys
def test_unknown_top_level_key():
    message = user_error({**BASE, "trian": {}})
    assert "'trian'" in message
    assert all(k in message for k in ("name", "data", "model", "loss", "train"))


def test_unknown_key_in_train_lists_the_train_keys():
    message = user_error(with_("train", {"batchsize": 8}))
    assert "'train.batchsize'" in message
    assert all(k in message for k in ("batch_size", "kimg", "g_lr", "betas", "seed"))


@pytest.mark.parametrize("section", ["data", "loss"])
def test_unknown_key_in_other_sections(section):
    message = user_error(with_(section, {"bogus": 1}))
    assert f"'{section}.bogus'" in message
    owner = RunConfig.model_fields[section].annotation
    assert all(k in message for k in owner.model_fields)


def test_unknown_model_key_lists_the_family_keys():
    dcgan = user_error(with_("model", {"family": "dcgan", "widht": 8}))
    assert "'model.widht'" in dcgan and "width" in dcgan and "spectral_norm" in dcgan
    assert "depth" not in dcgan  # an mlp key: the list is the chosen family's
    mlp = user_error(with_("model", {"family": "mlp", "widht": 8}))
    assert "width" in mlp and "depth" in mlp


def test_model_without_family_lists_the_families():
    message = user_error(with_("model", {"width": 8}))
    assert "family" in message
    assert all(name in message for name in MODELS.names())


def test_unknown_family_lists_the_families():
    message = user_error(with_("model", {"family": "dcgna"}))
    assert "'dcgna'" in message and "did you mean 'dcgan'" in message
    assert all(name in message for name in MODELS.names())


@pytest.mark.parametrize("family", [None, ["dcgan"]])
def test_family_that_is_not_a_name_is_a_user_error(family):
    message = user_error(with_("model", {"family": family}))
    assert "must be a name" in message and all(name in message for name in MODELS.names())


def test_unknown_dataset_lists_the_known_ones():
    message = user_error(with_("data", {"dataset": "fashon-mnist"}))
    assert "'fashon-mnist'" in message and "did you mean 'fashion-mnist'" in message
    assert all(name in message for name in DATASETS.names())


def test_unknown_loss_lists_the_known_ones():
    message = user_error(with_("loss", {"name": "hinj"}))
    assert "'hinj'" in message
    assert all(name in message for name in LOSSES.names())


# ------------------------------------------------------------------------------- bad values
@pytest.mark.parametrize(
    "override, key",
    [
        ("train.batch_size=abc", "train.batch_size"),
        ("train.batch_size=0", "train.batch_size"),
        ("train.kimg=abc", "train.kimg"),
        ("train.device=tpu", "train.device"),
        ("train.betas=0.5", "train.betas"),
        ("model.width=4", "model.width"),
        ("data.channels=2", "data.channels"),
        ("train=5", "train"),
    ],
)
def test_bad_value_names_the_key(override, key):
    message = user_error(path=CONFIGS / "fashion-dcgan.yaml", overrides=[override])
    assert f"'{key}'" in message
    value = override.partition("=")[2]
    assert value in message  # the offending value is echoed


def test_pack_with_conditional_is_one_line():
    message = user_error(path=CONFIGS / "fashion-cgan.yaml", overrides=["model.pack=2"])
    assert "model.pack" in message and "unconditional" in message


def test_config_that_is_not_a_mapping():
    assert "mapping" in user_error([1, 2])


# -------------------------------------------------------------------------------- overrides
def test_overrides_with_dots_and_yaml_values():
    cfg = load_config(
        CONFIGS / "fashion-dcgan.yaml",
        ["train.betas=[0.5,0.9]", "train.kimg=50", "model.conditional=true", "data.limit=128", "name=mine",
         "train.threads=null"],
    )
    assert cfg.train.betas == (0.5, 0.9) and isinstance(cfg.train.betas, tuple)
    assert cfg.train.kimg == 50.0
    assert cfg.model.conditional is True
    assert cfg.data.limit == 128
    assert cfg.name == "mine"
    assert cfg.train.threads is None


def test_parse_overrides_values():
    parsed = parse_overrides(["a.b=1", "c=x=y", "d=", "e=[1, 2]", "f=0.5", "g=[unclosed"])
    assert parsed == {"a.b": 1, "c": "x=y", "d": None, "e": [1, 2], "f": 0.5, "g": "[unclosed"}


def test_yaml_1_1_words_stay_strings_and_only_true_false_are_booleans(tmp_path):
    # YAML 1.1 reads off/no/on/yes as booleans, which would turn health.policy=off into False.
    parsed = parse_overrides(["p=off", "q=no", "r=On", "s=yes", "t=true", "u=False"])
    assert parsed == {"p": "off", "q": "no", "r": "On", "s": "yes", "t": True, "u": False}
    assert load_config(CONFIGS / "toy-ring8.yaml", ["health.policy=off"]).health.policy == "off"
    preset = tmp_path / "p.yaml"
    preset.write_text((CONFIGS / "toy-ring8.yaml").read_text() + "health:\n  policy: off\n")
    assert load_config(preset).health.policy == "off"


@pytest.mark.parametrize("item", ["train.kimg", "=5", ""])
def test_override_that_is_not_key_value(item):
    with pytest.raises(GanforgeError, match="key=value"):
        parse_overrides([item])


def test_apply_overrides_copies():
    raw = {"train": {"kimg": 1}}
    out = apply_overrides(raw, {"train.kimg": 2, "loss.name": "hinge"})
    assert out == {"train": {"kimg": 2}, "loss": {"name": "hinge"}}
    assert raw == {"train": {"kimg": 1}}


@pytest.mark.parametrize("key", ["name.x", "train.kimg.x"])
def test_override_into_a_value_raises(key):
    with pytest.raises(GanforgeError, match="is a value, not a section") as err:
        apply_overrides({"name": "run", "train": {"kimg": 1}}, {key: 1})
    assert "\n" not in str(err.value)


def test_override_of_an_unknown_section_is_an_unknown_key():
    message = user_error(path=CONFIGS / "fashion-dcgan.yaml", overrides=["trainer.kimg=5"])
    assert "'trainer'" in message


# ------------------------------------------------------------------------------------- files
def test_missing_config_file(tmp_path):
    message = user_error(path=tmp_path / "nope.yaml")
    assert "nope.yaml" in message and "does not exist" in message


def test_config_file_that_is_not_yaml(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    assert "not valid YAML" in user_error(path=bad)


def test_empty_config_file_needs_a_model(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert "'model'" in user_error(path=empty)


@pytest.mark.parametrize("text", ["- 1\n- 2\n", "just words\n"])
def test_config_file_that_is_not_a_mapping(tmp_path, text):
    path = tmp_path / "list.yaml"
    path.write_text(text)
    assert "mapping" in user_error(path=path)


# ---------------------------------------------------------------------------------- resume
def test_resume_overridable_keys_are_real_fields():
    assert len(set(RESUME_OVERRIDABLE)) == len(RESUME_OVERRIDABLE)
    for dotted in RESUME_OVERRIDABLE:
        section, _, field = dotted.partition(".")
        assert section in RunConfig.model_fields, dotted
        owner = RunConfig.model_fields[section].annotation
        assert field in owner.model_fields, dotted


def test_resume_overridable_keys_accept_an_override():
    values = {"train.kimg": 5, "train.log_every": 3, "train.sample_every_kimg": 1.5,
              "train.snapshot_every_kimg": 2.5, "train.keep_checkpoints": 4, "train.threads": 2,
              "train.eval_every_kimg": 10, "train.eval_metrics": ["fid", "kid"], "train.eval_n": 2000}
    assert set(values) == set(RESUME_OVERRIDABLE)
    cfg = build_config(apply_overrides(BASE, values))
    for dotted, value in values.items():
        section, _, field = dotted.partition(".")
        assert getattr(getattr(cfg, section), field) == value
