"""The creation data sets on tiny fixture trees that mimic the Debian packages' layouts: trait
parsing, (N, T) labels and their Conditioning, the visibility mask, items, skipped files, the cache
and the one-line errors for a missing package."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.config import DataConfig
from ganforge.data import DATASETS, build_dataset
from ganforge.data import creation, landscapes, portraits, turntable, wesnoth
from ganforge.errors import GanforgeError

MAGENTA_REF = (0xF4, 0x9A, 0xC1)  # the first colour of the fixture's magenta palette


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def load(name: str, **kwargs):
    return build_dataset(DataConfig(dataset=name, resolution=kwargs.pop("resolution", 64), channels=3, **kwargs))


def png(path: Path, size=(72, 72), color=(10, 120, 30, 255), magenta: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.zeros((size[1], size[0], 4), dtype=np.uint8)
    pixels[size[1] // 4 : -size[1] // 4, size[0] // 4 : -size[0] // 4] = color
    if magenta:
        pixels[size[1] // 2 - 4 : size[1] // 2 + 4, size[0] // 2 - 4 : size[0] // 2 + 4] = (*MAGENTA_REF, 255)
    Image.fromarray(pixels, "RGBA").save(path)
    return path


def jpg(path: Path, size=(24, 30), shade: int = 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (shade, shade // 2, 255 - shade)).save(path, format="JPEG")
    return path


def traits(ds) -> dict[str, list[str]]:
    """Each image's value of each trait, by trait name."""
    return {t.name: [t.values[i] for i in ds.labels[:, j].tolist()] for j, t in enumerate(ds.conditioning.traits)}


# ------------------------------------------------------------------------------- shared parts
def test_assemble_gives_n_by_t_labels_in_the_given_order_and_the_hidden_mask():
    img = np.zeros((4, 4, 3), dtype=np.uint8)
    samples = [creation.Sample(img, {"a": "y", "b": "2"}), creation.Sample(img + 1, {"a": "x", "b": "1"}, frozenset({"b"}))]
    ds = creation.assemble("t", samples, ("a", "b"), orders={"b": ("2", "1", "0")})
    assert ds.conditioning.names == ("a", "b")
    assert ds.conditioning.traits[0].values == ("x", "y")  # sorted when no order is given
    assert ds.conditioning.traits[1].values == ("2", "1", "0")  # every value, seen or not
    assert ds.labels.dtype == torch.int64 and ds.labels.tolist() == [[1, 0], [0, 1]]
    assert ds.visible.tolist() == [[True, True], [True, False]]
    assert ds.data.shape == (2, 3, 4, 4) and ds.items is None
    with pytest.raises(GanforgeError, match="no usable images .*1 skipped; first: f.png: bad"):
        creation.assemble("t", [], ("a",), skipped=[("f.png", "bad")])


def test_the_cache_builds_once_and_returns_the_same_data(tmp_path):
    img = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    calls = []

    def build():
        calls.append(1)
        return creation.assemble("t", [creation.Sample(img, {"a": "x"}, item="one")], ("a",), skipped=[("z", "why")])

    first = creation.cached("t", {"v": 1}, build)
    again = creation.cached("t", {"v": 1}, build)
    assert len(calls) == 1
    assert torch.equal(first.data, again.data) and torch.equal(first.labels, again.labels)
    assert torch.equal(first.visible, again.visible) and torch.equal(first.items, again.items)
    assert again.conditioning == first.conditioning and again.item_names == ["one"] and again.skipped == [("z", "why")]
    creation.cached("t", {"v": 2}, build)  # another key is another entry
    assert len(calls) == 2


def test_fit_keeps_the_aspect_and_makes_grey():
    ds = creation.assemble("t", [creation.Sample(np.full((64, 128, 3), 200, np.uint8), {"a": "x"})], ("a",))
    out = creation.fit(ds, DataConfig(dataset="fashion-mnist", resolution=16, channels=1), aspect=2.0)
    assert out.data.shape == (1, 1, 16, 32) and int(out.data[0, 0, 0, 0]) == 200


def test_every_creation_data_set_is_registered_with_a_licence():
    for name in ("avatars", "wesnoth-sprites", "portraits", "turntable", "landscapes"):
        spec = DATASETS.get(name)
        assert spec.batch == "images" and spec.licence and spec.about


# ------------------------------------------------------------------------------------ wesnoth
UNIT_CFG = '''#textdomain wesnoth-units
#define PATH_TEMP
units/human/#enddef
[unit_type]
    id=Spearman
    name= _ "Spearman"
    race=human
    gender=male,female
    image="{PATH_TEMP}spearman.png"
    profile="portraits/humans/spearman.png"
    level=1
    description= _ "A line that ends in a bracket
[not_a_tag]
    and goes on."
    [female]
        name= _ "female^Spearman"
        image="units/human/spearman+female.png"
        profile="portraits/humans/spearwoman.png"
    [/female]
    [attack_anim]
        [frame]
            image="units/human/spear-thrust-[1~2].png:100"
        [/frame]
    [/attack_anim]
[/unit_type]
'''
SHAMAN_CFG = '''[unit_type]
    id=Shaman
    race=elf
    gender=female
    image="units/elves/shaman.png"
    level=1
[/unit_type]
'''
TEAM_COLORS = '''[color_range]
    id=red
    rgb=FF0000,FFFFFF,000000,FF0000
    default=yes
[/color_range]
[color_range]
    id=blue
    rgb=2E419B,FFFFFF,0F0F0F,0000FF
    default=yes
[/color_range]
[color_range]
    id=flat
    rgb=89C236,D9FF62,023B02,73973F #89C236
[/color_range]
[color_palette]
    magenta=F49AC1,3F0016,55002A
[/color_palette]
'''


@pytest.fixture
def wesnoth_core(tmp_path, monkeypatch):
    core = tmp_path / "wesnoth" / "core"
    (core / "units" / "humans").mkdir(parents=True)
    (core / "units" / "elves").mkdir(parents=True)
    (core / "units" / "humans" / "Spearman.cfg").write_text(UNIT_CFG)
    (core / "units" / "elves" / "Shaman.cfg").write_text(SHAMAN_CFG)
    (core / "team-colors.cfg").write_text(TEAM_COLORS)
    units = core / "images" / "units"
    png(units / "human" / "spearman.png", magenta=True)
    png(units / "human" / "spearman-attack-melee-2.png", magenta=True)
    png(units / "human" / "spearman+female-die-3.png", magenta=True)
    png(units / "human" / "spearman-ne.png")  # no magenta: no team colour to see
    png(units / "human" / "spear-thrust-1.png", magenta=True)  # claimed by the cfg's animation
    png(units / "elves" / "shaman-idle-1.png", size=(90, 72), magenta=True)
    png(units / "unknown-unit.png")
    (units / "elves" / "shaman-defend.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    monkeypatch.setattr(wesnoth, "WESNOTH_CORE", core)
    return core


def test_wml_parsing_skips_multiline_strings_and_reads_nested_tags():
    root = wesnoth.parse_wml(UNIT_CFG)
    (unit,) = root.find("unit_type")
    assert unit.attrs["race"] == "human" and unit.attrs["gender"] == "male,female"
    assert [c.name for c in unit.children] == ["female", "attack_anim"]
    assert unit.find("female")[0].attrs["image"] == "units/human/spearman+female.png"


@pytest.mark.parametrize("rest, pose", [("", "stand"), ("-ne", "stand"), ("-attack-melee-2", "attack"),
                                        ("-bow", "attack"), ("+female-die-3", "die"), ("-defend1", "defend"),
                                        ("-idle-4", "idle"), ("-moving", "move"), ("-se-stand-2", "stand")])
def test_pose_comes_from_the_frame_name(rest, pose):
    assert wesnoth.pose_of(rest) == pose


def test_recolouring_follows_wesnoths_recolor_range():
    palette = ((0xF4, 0x9A, 0xC1), (0x3F, 0x00, 0x16))
    mapping = wesnoth.recolor_map(palette, ((0x2E, 0x41, 0x9B), (255, 255, 255), (0x0F, 0x0F, 0x0F)))
    assert mapping[palette[0]] == (0x2E, 0x41, 0x9B)  # the reference colour becomes the range's mid
    avg, ref = sum(palette[1]) // 3, sum(palette[0]) // 3
    ratio = avg / ref  # darker: between min and mid
    assert mapping[palette[1]] == tuple(int(ratio * m + (1 - ratio) * lo) for m, lo in zip((0x2E, 0x41, 0x9B), (15, 15, 15)))


def test_wesnoth_sprites_traits_team_colours_and_visibility(wesnoth_core):
    ds = load("wesnoth-sprites")
    assert ds.conditioning.names == ("race", "gender", "pose", "team_color")
    assert ds.conditioning.trait("team_color").values == ("blue", "red")  # default=yes ranges only
    assert ds.labels.shape == (6, 4) and ds.data.shape == (6, 3, 64, 64) and ds.data.dtype == torch.uint8
    names = sorted(ds.item_names)
    assert names == ["Shaman", "Spearman"]
    t = traits(ds)
    rows = sorted(zip([ds.item_names[i] for i in ds.items.tolist()], t["race"], t["gender"], t["pose"],
                      ds.visible[:, 3].tolist()))
    assert rows == [
        ("Shaman", "elf", "female", "idle", True),
        ("Spearman", "human", "female", "die", True),
        ("Spearman", "human", "male", "attack", True),
        ("Spearman", "human", "male", "attack", True),  # spear-thrust-1, claimed by the animation
        ("Spearman", "human", "male", "stand", False),  # -ne has no magenta pixels
        ("Spearman", "human", "male", "stand", True),
    ]
    skipped = dict(ds.skipped)
    assert skipped["units/unknown-unit.png"] == "no unit type declares it"
    assert "units/elves/shaman-defend.png" in skipped
    # The magenta square became the frame's team colour (its mid at the reference colour), within
    # the few levels the 72 -> 64 Lanczos resize moves the centre of an 8-pixel square.
    colour = {"red": (255, 0, 0), "blue": (0x2E, 0x41, 0x9B)}
    for i in range(len(ds)):
        if ds.visible[i, 3]:
            centre = ds.data[i, :, 32, 32].int()
            assert (centre - torch.tensor(colour[t["team_color"][i]])).abs().max() <= 4
    assert int(ds.data[0, :, 0, 0].min()) == 255  # transparency composited over white


def test_a_missing_wesnoth_package_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(wesnoth, "WESNOTH_CORE", tmp_path / "absent")
    with pytest.raises(GanforgeError) as err:
        load("wesnoth-sprites")
    message = str(err.value)
    assert "\n" not in message and "apt-get install wesnoth-1.16-data" in message and "make creation-data" in message


# ---------------------------------------------------------------------------------- portraits
@pytest.fixture
def portrait_trees(tmp_path, monkeypatch, wesnoth_core):
    naev = tmp_path / "naev" / "dat" / "gfx" / "portraits"
    png(naev / "dvaered" / "dv_civilian_f1.png", size=(200, 150))
    png(naev / "neutral" / "male3.png", size=(200, 150))
    png(naev / "neutral" / "unique" / "oldwoman.png", size=(200, 150))
    png(naev / "pirate" / "pirate1.png", size=(200, 150))
    png(naev / "news.png", size=(200, 150))
    faces = wesnoth_core / "images" / "portraits"
    png(faces / "humans" / "spearman.png", size=(100, 100))
    png(faces / "humans" / "spearwoman.png", size=(100, 100))  # a [female] profile
    png(faces / "humans" / "mage+female.png", size=(100, 100))
    png(faces / "monsters" / "rat.png", size=(100, 100))  # no unit names it
    monkeypatch.setattr(portraits, "NAEV_PORTRAITS", naev)
    monkeypatch.setattr(portraits, "WESNOTH_CORE", wesnoth_core)
    return naev, faces


@pytest.mark.parametrize("stem, gender", [("dv_civilian_f10", "female"), ("empire_mil_m2", "male"),
                                          ("female5", "female"), ("male12", "male"), ("oldwoman", "female"),
                                          ("youngbusinessman", "male"), ("pirate4", "unknown")])
def test_naev_gender_from_file_names(stem, gender):
    assert portraits.naev_gender(stem) == gender


def test_portraits_traits_and_unknown_gender_hidden(portrait_trees):
    ds = load("portraits")
    assert ds.conditioning.names == ("source", "gender", "race") and ds.labels.shape == (8, 3)
    t = traits(ds)
    rows = sorted(zip(t["source"], t["race"], t["gender"], ds.visible[:, 1].tolist()))
    assert rows == [
        ("naev", "dvaered", "female", True), ("naev", "neutral", "female", True), ("naev", "neutral", "male", True),
        ("naev", "pirate", "unknown", False),
        ("wesnoth", "humans", "female", True), ("wesnoth", "humans", "female", True), ("wesnoth", "humans", "male", True),
        ("wesnoth", "monsters", "unknown", False),
    ]
    assert dict(ds.skipped) == {"naev/news.png": "not in a faction or race folder"}
    assert ds.data.shape == (8, 3, 64, 64)


def test_a_missing_naev_package_is_one_line(tmp_path, monkeypatch, wesnoth_core):
    monkeypatch.setattr(portraits, "NAEV_PORTRAITS", tmp_path / "absent")
    with pytest.raises(GanforgeError, match=r"needs the Debian package naev-data .*apt-get install naev-data"):
        load("portraits")


# ---------------------------------------------------------------------------------- turntable
@pytest.fixture
def items(tmp_path, monkeypatch):
    root = tmp_path / "items"
    for k in range(1, 5):
        jpg(root / "drinking_mug" / f"portrait_{k:04d}.jpg", shade=10 * k)
    for k in range(1, 17):  # 16 views: steps of two
        jpg(root / "weapons" / "rifle" / f"portrait_{k:04d}.jpg", shade=5 * k)
    jpg(root / "weapons" / "pistol" / "portrait_0033.jpg")  # beyond the turn
    jpg(root / "weapons" / "pistol" / "portrait_0032.jpg")
    jpg(root / "NONE_AVAILABLE_YET" / "portrait_0001.jpg")
    (root / "weapons" / "rifle" / "ingame.png").write_bytes(b"not a frame")
    monkeypatch.setattr(turntable, "FREEDROID_ITEMS", root)
    return root


def test_turntable_category_view_and_items(items):
    ds = load("turntable")
    assert ds.conditioning.names == ("category", "view")
    assert ds.conditioning.trait("view").values == tuple(str(v) for v in range(32))
    assert ds.labels.shape == (21, 2) and ds.visible.all()
    t = traits(ds)
    item = [ds.item_names[i] for i in ds.items.tolist()]
    views = {}
    for it, cat, view in zip(item, t["category"], t["view"]):
        views.setdefault((it, cat), []).append(int(view))
    assert views == {("drinking_mug", "misc"): [0, 1, 2, 3], ("weapons/rifle", "weapons"): list(range(0, 32, 2)),
                     ("weapons/pistol", "weapons"): [31]}
    skipped = dict(ds.skipped)
    assert skipped["NONE_AVAILABLE_YET/portrait_0001.jpg"] == "not an item's folder"
    assert "beyond the 32-view turn" in skipped["weapons/pistol/portrait_0033.jpg"]
    assert int(ds.data[0, :, 0, 0].max()) == 0  # padded with black, like the renders' background


def test_a_missing_freedroid_package_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(turntable, "FREEDROID_ITEMS", tmp_path / "absent")
    with pytest.raises(GanforgeError, match=r"apt-get install freedroidrpg-data, or `make creation-data`"):
        load("turntable")


# --------------------------------------------------------------------------------- landscapes
@pytest.fixture
def land(tmp_path, monkeypatch):
    root = tmp_path / "land"
    jpg(root / "canyon0.jpg", size=(72, 36))
    jpg(root / "canyon10-harro.jpg", size=(72, 36))
    jpg(root / "city12-sfiera.jpg", size=(72, 36))
    jpg(root / "sea1.jpg", size=(40, 40))  # another shape: centre-cropped to 2:1
    jpg(root / "bwerner0.jpg", size=(72, 36))  # a photographer, not a scene
    (root / "snow1.jpg").write_bytes(b"\xff\xd8\xff cut")
    monkeypatch.setattr(landscapes, "ENDLESS_SKY_LAND", root)
    return root


def test_landscapes_scene_and_wide_images(land):
    ds = load("landscapes")
    assert ds.conditioning.names == ("scene",) and ds.labels.shape == (4, 1)
    assert sorted(traits(ds)["scene"]) == ["canyon", "canyon", "city", "sea"]
    assert ds.data.shape == (4, 3, 64, 128)
    assert load("landscapes", resolution=32).data.shape == (4, 3, 32, 64)
    skipped = dict(ds.skipped)
    assert skipped["bwerner0.jpg"] == "no scene type in the name" and "snow1.jpg" in skipped


def test_a_missing_endless_sky_package_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(landscapes, "ENDLESS_SKY_LAND", tmp_path / "absent")
    with pytest.raises(GanforgeError, match=r"endless-sky-data"):
        load("landscapes")
