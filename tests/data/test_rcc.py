"""The Qt resource bundle reader: members of tiny bundles written here, and malformed files refused in one line."""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

import pytest

from ganforge.data.rcc import RccError, iter_rcc, list_rcc
from ganforge.errors import GanforgeError

FLAG_ZLIB, FLAG_DIRECTORY, FLAG_ZSTD = 0x01, 0x02, 0x04


def write_rcc(path: Path, files: dict[str, bytes], *, version: int = 3, compressed=(), zstd=()) -> Path:
    """A minimal ``rcc -binary`` writer: ``files`` maps "dir/sub/name" to bytes; members named in
    ``compressed`` are stored as qCompress blobs (u32 size + zlib), those in ``zstd`` flagged zstd.

    Layout: header, data, names, tree (breadth first, so each directory's children are contiguous).
    """
    root: dict = {}
    for member, data in files.items():
        *dirs, leaf = member.split("/")
        folder = root
        for part in dirs:
            folder = folder.setdefault(part, {})
        folder[leaf] = (member, data)

    names, name_offsets, blob = bytearray(), {}, bytearray()

    def name_offset(name: str) -> int:
        if name not in name_offsets:
            name_offsets[name] = len(names)
            names.extend(struct.pack(">HI", len(name), 0) + name.encode("utf-16-be"))
        return name_offsets[name]

    nodes: list[list] = [["dir", 0, 0, 0]]  # [kind, name offset, a, b]
    queue = [(0, root)]
    while queue:
        index, folder = queue.pop(0)
        nodes[index][2:] = [len(folder), len(nodes)]
        for name, entry in folder.items():
            if isinstance(entry, dict):
                queue.append((len(nodes), entry))
                nodes.append(["dir", name_offset(name), 0, 0])
            else:
                member, data = entry
                flags = FLAG_ZLIB if member in compressed else FLAG_ZSTD if member in zstd else 0
                payload = struct.pack(">I", len(data)) + zlib.compress(data) if member in compressed else data
                nodes.append(["file", name_offset(name), flags, len(blob)])
                blob.extend(struct.pack(">I", len(payload)) + payload)

    tree = bytearray()
    for kind, name, a, b in nodes:
        if kind == "dir":
            tree += struct.pack(">IHII", name, FLAG_DIRECTORY, a, b)
        else:
            tree += struct.pack(">IHHHI", name, a, 0, 0, b)
        if version >= 2:
            tree += struct.pack(">Q", 0)
    header_size = 24 if version >= 3 else 20
    data_offset = header_size
    names_offset = data_offset + len(blob)
    tree_offset = names_offset + len(names)
    header = b"qres" + struct.pack(">IIII", version, tree_offset, data_offset, names_offset)
    if version >= 3:
        header += struct.pack(">I", FLAG_ZLIB if compressed else 0)
    path.write_bytes(header + bytes(blob) + bytes(names) + bytes(tree))
    return path


FILES = {
    "gcompris/src/a.jpg": b"\xff\xd8 first member",
    "gcompris/src/deeper/b.txt": b"second member " * 40,
    "top.bin": bytes(range(256)),
    "gcompris/empty": b"",
}


@pytest.mark.parametrize("version", [1, 2, 3])
def test_members_of_a_tree_come_back(tmp_path, version):
    path = write_rcc(tmp_path / "x.rcc", FILES, version=version, compressed={"gcompris/src/deeper/b.txt"})
    assert dict(iter_rcc(path)) == FILES
    kinds = {member.path: member.compression for member in list_rcc(path)}
    assert kinds == {name: "zlib" if name.endswith("b.txt") else "none" for name in FILES}


def test_names_may_be_non_ascii(tmp_path):
    path = write_rcc(tmp_path / "x.rcc", {"dossier/été.webp": b"x"})
    assert [name for name, _ in iter_rcc(path)] == ["dossier/été.webp"]


def corrupt(tmp_path, mutate) -> Path:
    path = write_rcc(tmp_path / "x.rcc", FILES, compressed={"gcompris/src/deeper/b.txt"})
    blob = bytearray(path.read_bytes())
    path.write_bytes(bytes(mutate(blob)))
    return path


def tree_offset(blob) -> int:
    return struct.unpack(">I", blob[8:12])[0]


def set_node(blob, index, raw):
    start = tree_offset(blob) + 22 * index
    blob[start : start + len(raw)] = raw
    return blob


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda b: b"PK\x03\x04" + b[4:], "not a Qt resource bundle"),
        (lambda b: b[:12], "shorter than an rcc header"),
        (lambda b: b[:-30], "truncated or corrupt: children of"),
        (lambda b: b[:4] + struct.pack(">I", 7) + b[8:], "unsupported version 7"),
        (lambda b: b[:8] + struct.pack(">I", 10**6) + b[12:], "tree offset 1000000 is past the end"),
        # root -> one directory whose first child is itself
        (lambda b: set_node(b, 0, struct.pack(">IHII", 0, FLAG_DIRECTORY, 1, 1)) and set_node(
            b, 1, struct.pack(">IHII", 0, FLAG_DIRECTORY, 1, 1)), "reached twice"),
        # root claims a billion children
        (lambda b: set_node(b, 0, struct.pack(">IHII", 0, FLAG_DIRECTORY, 10**9, 1)), "more than"),
        # root claims 3 children starting far past the tree
        (lambda b: set_node(b, 0, struct.pack(">IHII", 0, FLAG_DIRECTORY, 3, 10**6)), "past the end"),
    ],
    ids=["bad-magic", "short-header", "truncated-tree", "version", "tree-offset", "cycle", "huge-count", "children-oob"],
)
def test_malformed_bundles_raise_one_line(tmp_path, mutate, expected):
    path = corrupt(tmp_path, mutate)
    with pytest.raises(RccError, match=expected) as caught:
        list(iter_rcc(path))
    message = str(caught.value)
    assert message.startswith(str(path)) and "\n" not in message
    assert isinstance(caught.value, GanforgeError)


def file_node_offsets(path: Path) -> list[int]:
    """Absolute offsets of the file nodes' data-offset fields."""
    blob = path.read_bytes()
    tree, offsets = tree_offset(blob), []
    index = 0
    while tree + 22 * (index + 1) <= len(blob):
        flags = struct.unpack(">H", blob[tree + 22 * index + 4 : tree + 22 * index + 6])[0]
        if not flags & FLAG_DIRECTORY:
            offsets.append(tree + 22 * index + 10)
        index += 1
    return offsets


def test_data_offset_out_of_bounds(tmp_path):
    path = write_rcc(tmp_path / "x.rcc", {"a": b"abc"})
    blob = bytearray(path.read_bytes())
    (field,) = file_node_offsets(path)
    blob[field : field + 4] = struct.pack(">I", 2**31)
    path.write_bytes(bytes(blob))
    with pytest.raises(RccError, match="length of 'a' at offset .* is past the end"):
        list(iter_rcc(path))


def test_member_length_past_the_end(tmp_path):
    path = write_rcc(tmp_path / "x.rcc", {"a": b"abc"})
    blob = bytearray(path.read_bytes())
    blob[24:28] = struct.pack(">I", 10**6)  # the first member's u32 length, right after the v3 header
    path.write_bytes(bytes(blob))
    with pytest.raises(RccError, match="data of 'a'"):
        list(iter_rcc(path))


def test_decompression_cap(tmp_path):
    path = write_rcc(tmp_path / "x.rcc", {"big": b"\0" * 5000}, compressed={"big"})
    assert dict(iter_rcc(path, max_member_bytes=5000)) == {"big": b"\0" * 5000}
    with pytest.raises(RccError, match="declares 5000 bytes uncompressed, more than the 4999 allowed"):
        list(iter_rcc(path, max_member_bytes=4999))


@pytest.mark.parametrize(("declared", "word"), [(100, "more"), (9000, "fewer")])
def test_zlib_size_must_match_declaration(tmp_path, declared, word):
    path = write_rcc(tmp_path / "x.rcc", {"z": b"\1" * 5000}, compressed={"z"})
    blob = bytearray(path.read_bytes())
    blob[28:32] = struct.pack(">I", declared)  # qCompress's size prefix, after the member's length
    path.write_bytes(bytes(blob))
    with pytest.raises(RccError, match=f"inflates to {word} bytes than the {declared} declared"):
        list(iter_rcc(path))


def test_corrupt_zlib_stream(tmp_path):
    path = write_rcc(tmp_path / "x.rcc", {"z": b"\1" * 5000}, compressed={"z"})
    blob = bytearray(path.read_bytes())
    blob[32:36] = b"\xde\xad\xbe\xef"  # the zlib header
    path.write_bytes(bytes(blob))
    with pytest.raises(RccError, match="corrupt zlib stream"):
        list(iter_rcc(path))


def test_zstd_members_skipped_with_a_reason_without_zstandard(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "zstandard", None)  # import zstandard -> ImportError
    path = write_rcc(tmp_path / "x.rcc", {"plain": b"p", "packed": b"\x28\xb5\x2f\xfd..."}, zstd={"packed"})
    assert [m.compression for m in list_rcc(path)] == ["none", "zstd"]
    skipped: list[tuple[str, str]] = []
    assert dict(iter_rcc(path, skipped=skipped)) == {"plain": b"p"}
    assert skipped == [("packed", "zstd-compressed and the zstandard module is not installed")]


def test_unreadable_path(tmp_path):
    with pytest.raises(RccError, match="cannot read"):
        list(iter_rcc(tmp_path / "missing.rcc"))
