"""RFC 6962 known answers, transparency-dev/merkle proof vectors and corruption probes."""

from __future__ import annotations

import hashlib

import pytest

from audit import merkle
from audit.verifier import EMPTY_ROOT, hash_leaf, verify_consistency, verify_inclusion

dh = bytes.fromhex

# transparency-dev/merkle proof/verify_test.go
SOME_HASH = dh("abacaba000000000000000000000000000000000000000000060061e00123456")
EMPTY_TREE_HASH = dh("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
LEAVES = [
    dh(x) for x in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")
]
ROOTS = [
    dh(x)
    for x in (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]
# (leaf, size, proof) with leaf 1-based as in the Go file
INCLUSION_VECTORS = [
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (3, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        2,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
CONSISTENCY_VECTORS = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]


def _fetch_for(leaf_hashes):
    store = {}
    cr = merkle.CompactRange()
    for i, h in enumerate(leaf_hashes):
        store[(0, i)] = h
        for level, index, hh in cr.append(h):
            store[(level, index)] = hh
    return lambda nodes: {n: store[n] for n in nodes}


def test_empty_root():
    assert EMPTY_ROOT == EMPTY_TREE_HASH == hashlib.sha256(b"").digest()
    assert merkle.CompactRange().root() == EMPTY_ROOT
    assert merkle.root_at(0, lambda nodes: {}) == EMPTY_ROOT


def test_known_answer_roots_1_to_8():
    hashes = [hash_leaf(x) for x in LEAVES]
    cr = merkle.CompactRange()
    fetch = _fetch_for(hashes)
    for n in range(1, 9):
        cr.append(hashes[n - 1])
        assert cr.root() == ROOTS[n - 1], n
        assert merkle.root_at(n, fetch) == ROOTS[n - 1], n


@pytest.mark.parametrize("leaf,size,proof", INCLUSION_VECTORS)
def test_inclusion_vectors(leaf, size, proof):
    hashes = [hash_leaf(x) for x in LEAVES]
    proof = [dh(p) for p in proof]
    assert verify_inclusion(leaf - 1, size, hashes[leaf - 1], proof, ROOTS[size - 1])
    assert merkle.inclusion_proof(leaf - 1, size, _fetch_for(hashes)) == proof
    assert not _inclusion_probes_accepted(leaf - 1, size, hashes[leaf - 1], proof, ROOTS[size - 1])


@pytest.mark.parametrize("size1,size2,proof", CONSISTENCY_VECTORS)
def test_consistency_vectors(size1, size2, proof):
    hashes = [hash_leaf(x) for x in LEAVES]
    proof = [dh(p) for p in proof]
    assert verify_consistency(size1, size2, ROOTS[size1 - 1], ROOTS[size2 - 1], proof)
    assert merkle.consistency_proof(size1, size2, _fetch_for(hashes)) == proof
    if proof:
        assert not _consistency_probes_accepted(size1, size2, ROOTS[size1 - 1], ROOTS[size2 - 1], proof)


def test_inclusion_single_entry():
    h = hash_leaf(b"data")
    assert verify_inclusion(0, 1, h, [], h)
    assert not verify_inclusion(0, 1, b"", [], h)
    assert not verify_inclusion(0, 1, h, [], b"")
    assert not verify_inclusion(0, 1, b"", [], b"")


@pytest.mark.parametrize("index,size", [(0, 0), (0, 1), (1, 0), (2, 1)])
def test_inclusion_invalid_params(index, size):
    assert not verify_inclusion(index, size, SOME_HASH, [], b"")
    assert not verify_inclusion(index, size, b"", [], EMPTY_TREE_HASH)
    assert not verify_inclusion(index, size, SOME_HASH, [], EMPTY_TREE_HASH)


def test_inclusion_index_ge_size_and_garbage_types():
    h = hash_leaf(b"x")
    assert not verify_inclusion(1, 1, h, [], h)
    assert not verify_inclusion(5, 3, h, [h, h], h)
    assert not verify_inclusion(0, 2, h, [b"short"], h)
    assert not verify_inclusion(-1, 2, h, [h], h)
    with pytest.raises(TypeError):
        verify_inclusion("0", 1, h, [], h)
    with pytest.raises(TypeError):
        verify_inclusion(0, 1, h, None, h)


def test_consistency_edge_cases():
    r1 = hash_leaf(b"don't care 1")
    r2 = hash_leaf(b"don't care 2")
    E = EMPTY_TREE_HASH
    # (0,0), (0,1), (1,1) are always consistent with an empty proof
    assert verify_consistency(0, 0, E, E, [])
    assert verify_consistency(0, 1, E, r2, [])
    assert verify_consistency(1, 1, r2, r2, [])
    assert not verify_consistency(0, 0, E, r2, [])
    assert not verify_consistency(1, 1, r1, r2, [])
    assert not verify_consistency(0, 1, r1, r2, [])  # root of the empty tree must be SHA-256("")
    # time travel to the past
    assert not verify_consistency(1, 0, r1, r2, [])
    assert not verify_consistency(2, 1, r1, r2, [])
    # empty proof for a real extension
    assert not verify_consistency(1, 2, r1, r2, [])
    # roots match but a non-empty proof
    assert not verify_consistency(0, 0, E, E, [E])
    assert not verify_consistency(0, 1, E, E, [E])
    assert not verify_consistency(1, 1, E, E, [E])
    # wrong sizes of hashes
    assert not verify_consistency(1, 1, b"x", b"x", [])
    assert not verify_consistency(1, 2, r1, r2, [b""])


# ---------------------------------------------------------------------------
# Corruption probes, as in transparency-dev/merkle corruptInclusionProof /
# corruptConsistencyProof, for every size 1..300 and every valid pair.
# ---------------------------------------------------------------------------


def _flip(p: bytes, bit: int) -> bytes:
    return bytes([p[0] ^ bit]) + p[1:]


def _inclusion_probes_accepted(index, size, leaf, proof, root) -> list[str]:
    probes = [
        (index - 1, size, leaf, proof, root, "index-1"),
        (index + 1, size, leaf, proof, root, "index+1"),
        (index ^ 2, size, leaf, proof, root, "index^2"),
        (index, size * 2, leaf, proof, root, "size*2"),
        (index, size // 2, leaf, proof, root, "size/2"),
        (index, size, b"WrongLeaf", proof, root, "wrong leaf"),
        (index, size, hashlib.sha256(b"WrongLeaf").digest(), proof, root, "wrong leaf 32"),
        (index, size, leaf, proof, EMPTY_TREE_HASH, "empty root"),
        (index, size, leaf, proof, SOME_HASH, "random root"),
        (index, size, leaf, proof + [b""], root, "trailing garbage"),
        (index, size, leaf, proof + [SOME_HASH], root, "trailing garbage 32"),
        (index, size, leaf, proof + [root], root, "trailing root"),
        (index, size, leaf, [b""] + proof, root, "preceding garbage"),
        (index, size, leaf, [root] + proof, root, "preceding root"),
    ]
    for i in range(len(proof)):
        wrong = list(proof)
        wrong[i] = _flip(wrong[i], 8)
        probes.append((index, size, leaf, wrong, root, f"proof[{i}] bit 3"))
    if proof:
        probes.append((index, size, leaf, proof[:-1], root, "removed component"))
    if len(proof) > 1:
        probes.append((index, size, leaf, [SOME_HASH, proof[0]] + proof[1:], root, "inserted component"))
    return [p[-1] for p in probes if verify_inclusion(*p[:5])]


def _consistency_probes_accepted(size1, size2, root1, root2, proof) -> list[str]:
    probes = [
        (size1 - 1, size2, root1, root2, proof, "size1-1"),
        (size1 + 1, size2, root1, root2, proof, "size1+1"),
        (size1 ^ 2, size2, root1, root2, proof, "size1^2"),
        (size1, size2 * 2, root1, root2, proof, "size2*2"),
        (size1, size2 // 2, root1, root2, proof, "size2/2"),
        (size1, size2, b"WrongRoot", root2, proof, "wrong root1"),
        (size1, size2, root1, b"WrongRoot", proof, "wrong root2"),
        (size1, size2, SOME_HASH, root2, proof, "wrong root1 32"),
        (size1, size2, root1, SOME_HASH, proof, "wrong root2 32"),
        (size1, size2, root2, root1, proof, "swapped roots"),
        (size1, size2, root1, root2, [], "empty proof"),
        (size1, size2, root1, root2, proof + [b""], "trailing garbage"),
        (size1, size2, root1, root2, proof + [root1], "trailing root1"),
        (size1, size2, root1, root2, proof + [root2], "trailing root2"),
        (size1, size2, root1, root2, [b""] + proof, "preceding garbage"),
        (size1, size2, root1, root2, [root1] + proof, "preceding root1"),
        (size1, size2, root1, root2, [root2] + proof, "preceding root2"),
        (size1, size2, root1, root2, [proof[0]] + proof, "preceding proof[0]"),
        (size1, size2, root1, root2, proof[:-1], "truncated proof"),
    ]
    for i in range(len(proof)):
        wrong = list(proof)
        wrong[i] = _flip(wrong[i], 16)
        probes.append((size1, size2, root1, root2, wrong, f"proof[{i}] bit 4"))
    return [p[-1] for p in probes if verify_consistency(*p[:5])]


MAX_PROBE_SIZE = 300
CHUNKS = 6


@pytest.fixture(scope="module")
def tree300():
    leaves = [hash_leaf(i.to_bytes(4, "big")) for i in range(MAX_PROBE_SIZE)]
    fetch = _fetch_for(leaves)
    cr = merkle.CompactRange()
    roots = [EMPTY_ROOT]
    for h in leaves:
        cr.append(h)
        roots.append(cr.root())
    return leaves, fetch, roots


def _sizes(chunk):
    return [n for n in range(1, MAX_PROBE_SIZE + 1) if n % CHUNKS == chunk]


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_inclusion_probes_all_sizes(tree300, chunk):
    leaves, fetch, roots = tree300
    pairs = 0
    for size in _sizes(chunk):
        root = roots[size]
        for index in range(size):
            proof = merkle.inclusion_proof(index, size, fetch)
            assert verify_inclusion(index, size, leaves[index], proof, root), (index, size)
            bad = _inclusion_probes_accepted(index, size, leaves[index], proof, root)
            assert not bad, (index, size, bad)
            pairs += 1
    assert pairs == sum(_sizes(chunk))


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_consistency_probes_all_sizes(tree300, chunk):
    _leaves, fetch, roots = tree300
    for size2 in _sizes(chunk):
        for size1 in range(0, size2 + 1):
            proof = merkle.consistency_proof(size1, size2, fetch)
            assert verify_consistency(size1, size2, roots[size1], roots[size2], proof), (size1, size2)
            if proof:  # as upstream: probe only non-trivial proofs (0 < size1 < size2)
                bad = _consistency_probes_accepted(size1, size2, roots[size1], roots[size2], proof)
                assert not bad, (size1, size2, bad)
            else:
                assert size1 in (0, size2)
