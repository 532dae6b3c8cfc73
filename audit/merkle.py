"""Server-side RFC 6962 Merkle tree maintenance and proof generation (no Django).

Storage model: the server stores every *complete* subtree hash, addressed by
``(level, index)`` -- the subtree covering leaves ``[index * 2**level, (index + 1) * 2**level)``.
Level 0 holds the leaf hashes. ``CompactRange.append`` returns the level >= 1 nodes
completed by each append (about one per leaf amortised), and the head row keeps the
compact range (right-edge perfect subtree hashes) via ``to_bytes``/``from_bytes``.

Proof and root functions take ``fetch(nodes) -> {(level, index): hash}``; it is called
exactly once per call with O(log n) complete-subtree nodes. Incomplete right-edge
subtrees are folded from their complete sub-subtrees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from audit.verifier import EMPTY_ROOT, hash_children, hash_leaf

__all__ = [
    "CompactRange",
    "Fetch",
    "consistency_proof",
    "inclusion_proof",
    "node_id",
    "root_at",
    "root_from_leaf_hashes",
    "hash_leaf",
]

Node = tuple[int, int]
Fetch = Callable[[list[Node]], dict[Node, bytes]]

_LEVEL_SHIFT = 56
_INDEX_MASK = (1 << _LEVEL_SHIFT) - 1


def node_id(level: int, index: int) -> int:
    """Unique signed-int64-safe key for a stored node: ``level << 56 | index``."""
    if not 0 <= level < 64 or not 0 <= index <= _INDEX_MASK:
        raise ValueError(f"node ({level}, {index}) out of range")
    return (level << _LEVEL_SHIFT) | index


def node_from_id(nid: int) -> Node:
    return nid >> _LEVEL_SHIFT, nid & _INDEX_MASK


class CompactRange:
    """Size plus the hashes of the perfect subtrees on the right edge of [0, size)."""

    __slots__ = ("size", "hashes")

    def __init__(self, size: int = 0, hashes: Iterable[bytes] = ()):
        self.size = size
        self.hashes = list(hashes)
        if len(self.hashes) != size.bit_count() or any(len(h) != 32 for h in self.hashes):
            raise ValueError("compact range needs one 32-byte hash per set bit of size")

    def append(self, leaf_hash: bytes) -> list[tuple[int, int, bytes]]:
        """Append a leaf hash; return the completed (level, index, hash) nodes with level >= 1."""
        if len(leaf_hash) != 32:
            raise ValueError("leaf hash must be 32 bytes")
        completed: list[tuple[int, int, bytes]] = []
        h = bytes(leaf_hash)
        n = self.size
        level = 0
        index = self.size
        while n & 1:
            h = hash_children(self.hashes.pop(), h)
            level += 1
            index >>= 1
            completed.append((level, index, h))
            n >>= 1
        self.hashes.append(h)
        self.size += 1
        return completed

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        r = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            r = hash_children(h, r)
        return r

    def to_bytes(self) -> bytes:
        return b"".join(self.hashes)

    @classmethod
    def from_bytes(cls, size: int, data: bytes) -> CompactRange:
        if size < 0 or len(data) != 32 * size.bit_count():
            raise ValueError("compact range data length does not match size")
        return cls(size, [bytes(data[i : i + 32]) for i in range(0, len(data), 32)])

    def copy(self) -> CompactRange:
        return CompactRange(self.size, self.hashes)


def root_from_leaf_hashes(leaves: Iterable[bytes]) -> bytes:
    cr = CompactRange()
    for h in leaves:
        cr.append(h)
    return cr.root()


def _largest_pow2_below(n: int) -> int:
    """Largest power of two strictly less than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _decompose(lo: int, hi: int) -> list[Node]:
    """Complete subtrees covering [lo, hi), left to right, largest first (lo aligned)."""
    nodes: list[Node] = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        while lo & ((1 << level) - 1):
            level -= 1
        nodes.append((level, lo >> level))
        lo += 1 << level
    return nodes


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Leaf ranges whose MTH form RFC 6962 PATH(index, D[0:size]), in proof order."""
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _largest_pow2_below(hi - lo)
        if index - lo < k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()
    return ranges


def _consistency_ranges(size1: int, size2: int) -> list[tuple[int, int]]:
    """Leaf ranges whose MTH form RFC 6962 PROOF(size1, D[0:size2]) = SUBPROOF(m, D, true)."""
    if size1 == 0 or size1 == size2:
        return []
    ranges: list[tuple[int, int]] = []
    lo, hi, m, b = 0, size2, size1, True
    while m != hi - lo:
        k = _largest_pow2_below(hi - lo)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
            m -= k
            b = False
    if not b:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def _resolve(ranges: list[tuple[int, int]], fetch: Fetch) -> list[bytes]:
    plans = [_decompose(lo, hi) for lo, hi in ranges]
    wanted = list(dict.fromkeys(n for plan in plans for n in plan))
    got = fetch(wanted) if wanted else {}
    out = []
    for plan in plans:
        try:
            hs = [got[n] for n in plan]
        except KeyError as exc:
            raise LookupError(f"fetch did not return node {exc.args[0]}") from None
        r = hs[-1]
        for h in reversed(hs[:-1]):
            r = hash_children(h, r)
        out.append(r)
    return out


def inclusion_proof(index: int, size: int, fetch: Fetch) -> list[bytes]:
    """RFC 6962 / 9162 inclusion proof (audit path) for leaf ``index`` in the tree of ``size``."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} not in tree of size {size}")
    return _resolve(_inclusion_ranges(index, size), fetch)


def consistency_proof(size1: int, size2: int, fetch: Fetch) -> list[bytes]:
    """RFC 6962 / 9162 consistency proof between tree sizes size1 <= size2."""
    if not 0 <= size1 <= size2:
        raise ValueError(f"need 0 <= size1 <= size2, got {size1}, {size2}")
    return _resolve(_consistency_ranges(size1, size2), fetch)


def root_at(size: int, fetch: Fetch) -> bytes:
    """MTH of the first ``size`` leaves, from at most log2(size)+1 stored nodes."""
    if size < 0:
        raise ValueError("size must be >= 0")
    if size == 0:
        return EMPTY_ROOT
    return _resolve([(0, size)], fetch)[0]
