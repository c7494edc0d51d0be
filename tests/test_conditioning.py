"""conditioning.py: the one parsing rule, (N, T) encoding, "all" blocks, JSON; the shared TraitEmbedding."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ganforge.conditioning import UNCONDITIONAL, Conditioning, Trait
from ganforge.data import FASHION_CLASSES
from ganforge.errors import GanforgeError
from ganforge.models.layers import ConditionalBatchNorm, DiscriminatorHead, TraitEmbedding
from ganforge.sampling import class_labels

FASHION = Conditioning.for_classes(FASHION_CLASSES, 10)
TWO = Conditioning((Trait("colour", ("red", "green")), Trait("shape", ("circle", "square", "star"))))


def one_line(err: pytest.ExceptionInfo, *needles: str) -> str:
    message = str(err.value)
    assert "\n" not in message, message
    for needle in needles:
        assert needle in message, (needle, message)
    return message


# ------------------------------------------------------------------------------ parsing rule
@pytest.mark.parametrize("spec", ["bag", "Bag", "BAG", " bag ", 8, np.int64(8), "8", "class=bag", "CLASS=Bag"])
def test_a_class_by_name_in_any_case_or_by_index(spec):
    assert FASHION.labels(3, spec).tolist() == [8, 8, 8]


def test_digits_are_an_index_unless_a_class_is_called_so():
    numbered = Conditioning.for_classes(["zero", "7", "two"], 3)
    assert numbered.labels(1, "7").tolist() == [1]  # the class literally called "7"
    assert numbered.labels(1, "2").tolist() == [2]  # index 2
    assert Conditioning.for_classes(None, 4).labels(2, "3").tolist() == [3, 3]  # unnamed classes are "0".."3"


def test_comma_lists_and_sequences_give_one_class_per_image():
    assert FASHION.labels(3, "trouser, 0,BAG").tolist() == [1, 0, 8]
    assert FASHION.labels(3, ["trouser", 0, "BAG"]).tolist() == [1, 0, 8]
    assert FASHION.labels(2, torch.tensor([4, 2])).tolist() == [4, 2]
    with pytest.raises(GanforgeError) as err:
        FASHION.labels(3, "bag,coat")
    one_line(err, "got 2 classes for 3 images", "one class or one per image")


@pytest.mark.parametrize("bad", ["sneakers", "cat", 10, -1, "all,bag"])
def test_unknown_names_and_indices_list_the_accepted_values(bad):
    with pytest.raises(GanforgeError) as err:
        FASHION.labels(2, bad)
    if bad == "all,bag":
        one_line(err, "'all' stands alone")
    else:
        one_line(err, f"unknown class '{bad}'", *FASHION_CLASSES, "or all")


def test_a_near_miss_suggests_the_class():
    with pytest.raises(GanforgeError) as err:
        FASHION.labels(1, "sneakers")
    one_line(err, "did you mean 'sneaker'")


def test_unconditional_takes_nothing_but_all():
    assert UNCONDITIONAL.labels(4, None) is None and UNCONDITIONAL.labels(4, "all") is None
    with pytest.raises(GanforgeError) as err:
        UNCONDITIONAL.labels(4, "bag")
    one_line(err, "unconditional")
    assert UNCONDITIONAL.one(None) is None
    with pytest.raises(GanforgeError, match="unconditional"):
        UNCONDITIONAL.one("all")


def test_one_choice_refuses_all_and_lists():
    assert FASHION.one("Coat").tolist() == [4]
    for spec in (None, "all", "bag,coat"):
        with pytest.raises(GanforgeError) as err:
            FASHION.one(spec, model="'m'")
        one_line(err, "'m' is class-conditional", "--class", *FASHION_CLASSES)


def test_several_traits_by_name_value_pairs():
    assert TWO.encode(1, "colour=green+shape=star").tolist() == [[1, 2]]
    assert TWO.encode(1, "Shape=1+COLOUR=Red").tolist() == [[0, 1]]  # any order, any case
    assert TWO.encode(2, {"colour": 1, "shape": "circle"}).tolist() == [[1, 0], [1, 0]]
    assert TWO.encode(2, "colour=red+shape=star,colour=green+shape=circle").tolist() == [[0, 2], [1, 0]]
    assert TWO.labels(1, "colour=red+shape=star").shape == (1, 2)  # several traits keep (N, T)
    assert TWO.decode(torch.tensor([[1, 2]])) == ["colour=green+shape=star"]
    cases = [("red", ["2 traits", "colour=red+shape=circle"]),
             ("colour=red", ["no value for shape"]),
             ("color=red+shape=star", ["unknown trait 'color'", "did you mean 'colour'", "colour, shape"]),
             ("colour=blue+shape=star", ["unknown colour 'blue'", "colour values: red, green"])]
    for spec, needles in cases:
        with pytest.raises(GanforgeError) as err:
            TWO.encode(1, spec)
        one_line(err, *needles)


# ----------------------------------------------------------------------------------- "all"
@pytest.mark.parametrize("n", [0, 1, 7, 10, 20, 33])
def test_all_is_the_even_class_blocks_of_class_labels(n):
    for spec in (None, "all", "ALL"):
        index = FASHION.encode(n, spec)
        assert index.shape == (n, 1) and index.dtype == torch.int64
        assert torch.equal(index[:, 0], class_labels(n, 10))
        assert torch.equal(FASHION.labels(n, spec), class_labels(n, 10))


def test_all_spreads_over_every_combination_first_trait_slowest():
    index = TWO.encode(12)
    assert index.tolist() == [[c, s] for c in range(2) for s in range(3) for _ in range(2)]
    assert TWO.encode(5).tolist() == [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1]]  # blocks of the 6 combinations


# ------------------------------------------------------------------------------------ JSON
def test_json_round_trip():
    for cond in (FASHION, TWO, UNCONDITIONAL):
        data = json.loads(json.dumps(cond.to_json()))
        assert Conditioning.from_json(data) == cond
    assert FASHION.to_json() == {"traits": [{"name": "class", "values": list(FASHION_CLASSES)}]}
    assert Conditioning.from_json(None) == UNCONDITIONAL
    with pytest.raises(GanforgeError, match="traits"):
        Conditioning.from_json({"trait": []})


def test_traits_refuse_what_cannot_be_told_apart():
    with pytest.raises(ValueError):
        Trait("class", ())
    with pytest.raises(ValueError):
        Conditioning((Trait("a", ("x",)), Trait("A", ("y",))))


# ------------------------------------------------------------------------ TraitEmbedding
def test_one_trait_is_nn_embedding_bit_for_bit():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        reference = torch.nn.Embedding(10, 6)
        torch.manual_seed(3)
        layer = TraitEmbedding(10, 6)
    assert list(layer.state_dict()) == list(reference.state_dict()) == ["weight"]
    assert torch.equal(layer.weight, reference.weight)  # same initialisation, same RNG draws
    labels = torch.tensor([3, 0, 9, 3])
    assert torch.equal(layer(labels), reference(labels))
    assert torch.equal(layer(labels[:, None]), reference(labels))  # (N, 1) is T = 1 too
    layer(labels).square().sum().backward()
    reference(labels).square().sum().backward()
    assert torch.equal(layer.weight.grad, reference.weight.grad)


def test_one_trait_loads_an_nn_embedding_state_dict_and_spectral_norm_keeps_its_keys():
    from torch.nn.utils.parametrizations import spectral_norm

    reference = torch.nn.Embedding(5, 4)
    layer = TraitEmbedding(5, 4)
    layer.load_state_dict(reference.state_dict())
    assert torch.equal(layer(torch.arange(5)), reference(torch.arange(5)))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        a = spectral_norm(torch.nn.Embedding(5, 4))
        torch.manual_seed(1)
        b = spectral_norm(TraitEmbedding(5, 4))
    assert list(a.state_dict()) == list(b.state_dict())
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_several_traits_sum_one_vector_per_trait():
    layer = TraitEmbedding((2, 3), 4)
    assert layer.weight.shape == (5, 4)
    out = layer(torch.tensor([[1, 2], [0, 0]]))
    torch.testing.assert_close(out[0], layer.weight[1] + layer.weight[2 + 2], rtol=0, atol=0)
    torch.testing.assert_close(out[1], layer.weight[0] + layer.weight[2], rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        layer(torch.tensor([1, 0]))


def test_families_take_n_by_t_labels_as_they_take_n():
    norm = ConditionalBatchNorm(3, 4).eval()
    head = DiscriminatorHead(6, num_classes=4, conditioning="projection", sn=True).eval()
    x, h, y = torch.randn(5, 3, 2, 2), torch.randn(5, 6), torch.tensor([0, 3, 1, 1, 2])
    with torch.no_grad():
        norm.gain.weight.add_(torch.randn(4, 3))
        assert torch.equal(norm(x, y), norm(x, y[:, None]))
        assert torch.equal(head(h, y)[0], head(h, y[:, None])[0])


def test_conditioning_is_a_low_layer():
    """It may import errors, registry and schema of ganforge, nothing above them."""
    import ast
    from pathlib import Path

    import ganforge.conditioning as module

    tree = ast.parse(Path(module.__file__).read_text())
    local = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level > 0}
    absolute = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert local <= {"errors", "registry", "schema"}, local
    assert not any(name.startswith("ganforge") for name in absolute), absolute
