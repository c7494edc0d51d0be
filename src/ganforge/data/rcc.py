"""A small, defensive reader of Qt resource bundles (``.rcc`` files, as written by ``rcc -binary``).

Used to read the photographs that gcompris-qt-data ships inside its bundles
(``/usr/share/gcompris-qt/rcc/*.rcc``); nothing here needs Qt.

Layout (all integers big-endian; Qt's ``qresource.cpp`` is the reference)::

    header   "qres", u32 version (1, 2 or 3), u32 tree offset, u32 data offset,
             u32 names offset, and from version 3 a u32 of overall flags
    tree     nodes of 14 bytes (version 1) or 22 bytes (version >= 2: a trailing u64
             last-modified time), node 0 is the root directory:
               u32 name offset, u16 flags (0x02 directory, 0x01 zlib, 0x04 zstd), then
               directory: u32 child count, u32 index of the first child
               file:      u16 country, u16 language, u32 data offset
    names    u16 length (in UTF-16 units), u32 hash, the UTF-16BE characters
    data     u32 length, the bytes; zlib members start with a u32 uncompressed size
             (``qCompress``'s format) before the zlib stream; zstd members are one zstd frame

Every offset, count and length is checked against the file before it is used, directories
may not form cycles, and a member's uncompressed size is capped (:data:`MAX_MEMBER_BYTES`),
so a malformed or hostile file raises :class:`RccError` (one line: the path and what is wrong)
instead of reading out of bounds, looping or exhausting memory. The whole file is read into
memory, so files larger than :data:`MAX_FILE_BYTES` are refused.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..errors import GanforgeError

MAGIC = b"qres"
MAX_FILE_BYTES = 512 * 2**20
MAX_MEMBER_BYTES = 64 * 2**20  # refuse to inflate a member that claims (or turns out) larger than this
MAX_DEPTH = 64
MAX_NODES = 1_000_000

FLAG_ZLIB = 0x01
FLAG_DIRECTORY = 0x02
FLAG_ZSTD = 0x04


class RccError(GanforgeError):
    """A Qt resource bundle that cannot be read; the message names the file and the problem."""


@dataclass(frozen=True)
class RccMember:
    """One file in a bundle: its path inside the bundle and where its data lies."""

    path: str  # "gcompris/src/activities/xxx/resource/yyy.jpg" (no leading slash)
    flags: int
    data_offset: int  # absolute offset of the member's u32 length

    @property
    def compression(self) -> str:
        """``"zstd"``, ``"zlib"`` or ``"none"``."""
        return "zstd" if self.flags & FLAG_ZSTD else "zlib" if self.flags & FLAG_ZLIB else "none"


class _Bundle:
    """A parsed header over the bytes of one file; every read is bounds-checked."""

    def __init__(self, path: Path, blob: bytes) -> None:
        self.path, self.blob = path, blob
        if blob[:4] != MAGIC:
            self.fail(f"not a Qt resource bundle (starts with {blob[:4]!r}, expected {MAGIC!r})")
        self.version = self.u32(4, "header")
        if self.version not in (1, 2, 3):
            self.fail(f"unsupported version {self.version} (known: 1, 2, 3)")
        self.tree, self.data, self.names = (self.u32(8 + 4 * i, "header") for i in range(3))
        self.overall_flags = self.u32(20, "header") if self.version >= 3 else 0
        self.node_size = 14 if self.version == 1 else 22
        for what, offset in (("tree", self.tree), ("data", self.data), ("names", self.names)):
            if offset >= len(blob):
                self.fail(f"{what} offset {offset} is past the end of the file ({len(blob)} bytes)")

    def fail(self, what: str) -> None:
        raise RccError(f"{self.path}: {what}")

    def take(self, offset: int, size: int, what: str) -> bytes:
        if offset < 0 or offset + size > len(self.blob):
            self.fail(f"truncated or corrupt: {what} at offset {offset} (+{size} bytes) is past the end ({len(self.blob)} bytes)")
        return self.blob[offset : offset + size]

    def u32(self, offset: int, what: str) -> int:
        return struct.unpack(">I", self.take(offset, 4, what))[0]

    def node(self, index: int) -> tuple[int, int, int, int]:
        """Node ``index`` -> ``(name offset, flags, a, b)``: directory (count, first child) or file (locale, data offset)."""
        raw = self.take(self.tree + index * self.node_size, 14, f"tree node {index}")
        name, flags = struct.unpack(">IH", raw[:6])
        if flags & FLAG_DIRECTORY:
            count, first = struct.unpack(">II", raw[6:])
            return name, flags, count, first
        _country, _language, data = struct.unpack(">HHI", raw[6:])
        return name, flags, 0, data

    def name(self, offset: int) -> str:
        start = self.names + offset
        length = struct.unpack(">H", self.take(start, 2, "name length"))[0]
        raw = self.take(start + 6, 2 * length, "name")
        try:
            name = raw.decode("utf-16-be")
        except UnicodeDecodeError:
            self.fail(f"name at offset {offset} is not valid UTF-16")
        if not name or name in (".", "..") or "/" in name or "\x00" in name:
            self.fail(f"bad member name {name!r}")
        return name


def _members(bundle: _Bundle) -> list[RccMember]:
    """Walk the tree from the root, depth first, children in stored order."""
    members: list[RccMember] = []
    seen: set[int] = {0}
    _, root_flags, count, first = bundle.node(0)
    if not root_flags & FLAG_DIRECTORY:
        bundle.fail("the root tree node is not a directory")
    stack = [(count, first, "", 0)]
    while stack:
        count, first, prefix, depth = stack.pop()
        if depth >= MAX_DEPTH:
            bundle.fail(f"directories nested deeper than {MAX_DEPTH}")
        if count > MAX_NODES or len(seen) + count > MAX_NODES:
            bundle.fail(f"more than {MAX_NODES} tree nodes")
        # Check the whole child range up front so a huge count fails before any work.
        bundle.take(bundle.tree + first * bundle.node_size, count * bundle.node_size, f"children of '{prefix or '/'}'")
        subdirs = []
        for index in range(first, first + count):
            if index in seen:
                bundle.fail(f"tree node {index} is reached twice (a cycle or shared subtree)")
            seen.add(index)
            name_offset, flags, a, b = bundle.node(index)
            path = f"{prefix}{bundle.name(name_offset)}"
            if flags & FLAG_DIRECTORY:
                subdirs.append((a, b, path + "/", depth + 1))
            else:
                members.append(RccMember(path=path, flags=flags, data_offset=bundle.data + b))
        stack.extend(reversed(subdirs))
    return members


def _read_member(bundle: _Bundle, member: RccMember, *, max_bytes: int) -> bytes | None:
    """The member's uncompressed bytes; ``None`` for zstd when ``zstandard`` is not installed."""
    length = bundle.u32(member.data_offset, f"length of '{member.path}'")
    raw = bundle.take(member.data_offset + 4, length, f"data of '{member.path}'")
    if member.flags & FLAG_ZSTD:
        return _unzstd(bundle, member, raw, max_bytes)
    if not member.flags & FLAG_ZLIB:
        return raw
    if length < 4:
        bundle.fail(f"zlib member '{member.path}' is {length} bytes, too short for its size prefix")
    declared = struct.unpack(">I", raw[:4])[0]
    if declared > max_bytes:
        bundle.fail(f"member '{member.path}' declares {declared} bytes uncompressed, more than the {max_bytes} allowed")
    inflater = zlib.decompressobj()
    try:
        # max_length + 1: one byte more than declared proves the declaration wrong without inflating the rest.
        out = inflater.decompress(raw[4:], declared + 1)
    except zlib.error as err:
        bundle.fail(f"member '{member.path}' has a corrupt zlib stream ({err})")
    if len(out) != declared or not inflater.eof:
        bundle.fail(f"member '{member.path}' inflates to {'more' if len(out) > declared else 'fewer'} bytes than the {declared} declared")
    return out


def _unzstd(bundle: _Bundle, member: RccMember, raw: bytes, max_bytes: int) -> bytes | None:
    try:
        import zstandard
    except ImportError:
        return None
    try:
        # A stream reader with a read limit: a frame that lies about (or omits) its size cannot
        # make us allocate more than the cap.
        with zstandard.ZstdDecompressor().stream_reader(raw) as reader:
            out = reader.read(max_bytes + 1)
    except zstandard.ZstdError as err:
        bundle.fail(f"member '{member.path}' has a corrupt zstd frame ({err})")
    if len(out) > max_bytes:
        bundle.fail(f"member '{member.path}' inflates to more than the {max_bytes} bytes allowed")
    return out


def _open(path: str | Path) -> _Bundle:
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise RccError(f"{path}: file too large ({size / 2**20:.0f} MiB > {MAX_FILE_BYTES / 2**20:.0f} MiB)")
        blob = path.read_bytes()
    except OSError as err:
        raise RccError(f"{path}: cannot read ({err.strerror or err})") from None
    if len(blob) < 20:
        raise RccError(f"{path}: truncated: {len(blob)} bytes is shorter than an rcc header")
    return _Bundle(path, blob)


def list_rcc(path: str | Path) -> list[RccMember]:
    """The members of a bundle (paths, compression), without reading their data.

    Raises:
        RccError: the file is unreadable, not a bundle, or its tree is malformed.
    """
    return _members(_open(path))


def iter_rcc(
    path: str | Path, *, max_member_bytes: int = MAX_MEMBER_BYTES, skipped: list[tuple[str, str]] | None = None
) -> Iterator[tuple[str, bytes]]:
    """Yield ``(member path, uncompressed bytes)`` for every file in a bundle, in tree order.

    Args:
        path: the ``.rcc`` file.
        max_member_bytes: largest uncompressed member; a member declaring more raises.
        skipped: if given, ``(member path, reason)`` is appended for each member that cannot be
            decoded here (zstd members when the optional ``zstandard`` module is not installed);
            such members are not yielded.

    Raises:
        RccError: with one line (the path and what is wrong) for a malformed, truncated or
            oversized bundle or member.
    """
    bundle = _open(path)
    for member in _members(bundle):
        data = _read_member(bundle, member, max_bytes=max_member_bytes)
        if data is None:
            if skipped is not None:
                skipped.append((member.path, "zstd-compressed and the zstandard module is not installed"))
            continue
        yield member.path, data
