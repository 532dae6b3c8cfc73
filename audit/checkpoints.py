"""Signed checkpoints, proofs and exports, read from the stored tree in O(log n) rows."""

from __future__ import annotations

import base64
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any, TypedDict

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit import signals
from audit.keys import signers_for, verifier_keys_for
from audit.merkle import CompactRange, Fetch, Node, consistency_proof, inclusion_proof, node_id, root_at
from audit.models import AuditCheckpoint, AuditEvent, AuditHead, AuditTreeNode
from audit.notes import checkpoint_body, sign_note
from audit.services import audit_pending_sequence

logger = logging.getLogger("mlgov.alerts")
MIN_CHECKPOINT_INTERVAL = dt.timedelta(seconds=1)
FETCH_CHUNK = 2000


class CheckpointRefused(Exception):
    """The stored tree is not consistent with a checkpoint already signed: never sign it."""


class ProofRequestInvalid(ValueError):
    def __init__(self, message: str, *, field: str):
        super().__init__(message)
        self.field = field


def fetch_nodes(nodes: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """Stored subtree hashes: level 0 from the events' leaf hashes, higher levels from the node table."""
    found: dict[tuple[int, int], bytes] = {}
    leaves = [index for level, index in nodes if level == 0]
    if leaves:
        for seq, leaf in AuditEvent.objects.filter(seq__in=leaves).values_list("seq", "leaf_hash"):
            found[(0, seq)] = bytes(leaf)
    inner = {node_id(level, index): (level, index) for level, index in nodes if level > 0}
    if inner:
        for key, digest in AuditTreeNode.objects.filter(id__in=list(inner)).values_list("id", "hash"):
            found[inner[key]] = bytes(digest)
    return found


def head() -> AuditHead:
    return AuditHead.objects.get(pk=1)


def latest_checkpoint() -> AuditCheckpoint | None:
    return AuditCheckpoint.objects.order_by("-size").first()


def checkpoint_create(*, min_interval: dt.timedelta | None = None) -> AuditCheckpoint | None:
    """Sign a checkpoint for the current tree unless nothing changed (or one was signed too recently).

    Before signing, the stored tree must reproduce the latest signed root at its size (the new
    tree extends it); otherwise signing is refused and an alert is raised.
    """
    audit_pending_sequence()  # events left pending (AUDIT_SEQUENCING=deferred) join the log first
    current = head()
    latest = latest_checkpoint()
    if latest and latest.size >= current.size:
        return None
    if latest and min_interval and timezone.now() - latest.created_at < min_interval:
        return None
    root = CompactRange.from_bytes(current.size, bytes(current.compact_range)).root()
    if current.size and root_at(current.size, fetch_nodes) != root:
        _alert(f"stored tree nodes do not reproduce the head's root at size {current.size}")
        raise CheckpointRefused("the stored tree does not match the head; run audit_verify")
    if latest and root_at(latest.size, fetch_nodes) != bytes(latest.root):
        _alert(f"tree at size {latest.size} is inconsistent with the signed checkpoint of that size")
        raise CheckpointRefused(f"the tree is inconsistent with signed checkpoint {latest.size}; run audit_verify")
    signers = signers_for(current.origin)
    note = sign_note(checkpoint_body(current.origin, current.size, root), signers)
    try:
        with transaction.atomic():
            checkpoint = AuditCheckpoint.objects.create(
                size=current.size,
                root=root,
                note=note,
                created_at=timezone.now(),
                key_names=",".join(f"{signer.name}+{signer.key_id:08x}" for signer in signers),
            )
            signals.send_after_commit(signals.checkpoint_signed, AuditCheckpoint, checkpoint=checkpoint)
            return checkpoint
    except IntegrityError:  # another process signed the same size first
        return None


def _alert(message: str) -> None:
    logger.error("audit log alert: %s", message)


class Prefetched:
    """Collects the stored nodes several proof computations need, reads them in one go (two
    queries), then serves them: a proof plus its roots costs two queries, not one per call."""

    def __init__(self, *plans: Callable[[Fetch], object]):
        wanted: set[Node] = set()

        def record(nodes: list[Node]) -> dict[Node, bytes]:
            wanted.update(nodes)
            return dict.fromkeys(nodes, bytes(32))

        for plan in plans:
            plan(record)
        ordered = sorted(wanted)
        self.nodes: dict[Node, bytes] = {}
        for start in range(0, len(ordered), FETCH_CHUNK):  # stay under the database's parameter limit
            self.nodes.update(fetch_nodes(ordered[start : start + FETCH_CHUNK]))

    def __call__(self, nodes: list[Node]) -> dict[Node, bytes]:
        return {node: self.nodes[node] for node in nodes}


class InclusionProof(TypedDict):
    seq: int
    tree_size: int
    leaf_hash: str
    proof: list[str]
    root: str


class ConsistencyProof(TypedDict):
    first: int
    second: int
    proof: list[str]
    first_root: str
    second_root: str


def inclusion(seq: int, size: int) -> InclusionProof:
    log_size = head().size
    if size < 1 or size > log_size:
        raise ProofRequestInvalid(f"tree size must be between 1 and the log size {log_size}", field="size")
    if not 0 <= seq < size:
        raise ProofRequestInvalid(f"seq must be in [0, {size})", field="seq")
    fetch = Prefetched(lambda f: f([(0, seq)]), lambda f: inclusion_proof(seq, size, f), lambda f: root_at(size, f))
    proof = inclusion_proof(seq, size, fetch)
    return {
        "seq": seq,
        "tree_size": size,
        "leaf_hash": _b64(fetch([(0, seq)])[(0, seq)]),
        "proof": [_b64(h) for h in proof],
        "root": _b64(root_at(size, fetch)),
    }


def consistency(first: int, second: int) -> ConsistencyProof:
    if not 0 <= first <= second:
        raise ProofRequestInvalid("need 0 <= first <= second", field="first")
    log_size = head().size
    if second > log_size:
        raise ProofRequestInvalid(f"second must not exceed the log size {log_size}", field="second")
    fetch = Prefetched(
        lambda f: consistency_proof(first, second, f), lambda f: root_at(first, f), lambda f: root_at(second, f)
    )
    proof = consistency_proof(first, second, fetch)
    return {
        "first": first,
        "second": second,
        "proof": [_b64(h) for h in proof],
        "first_root": _b64(root_at(first, fetch)),
        "second_root": _b64(root_at(second, fetch)),
    }


def checkpoint_payload(checkpoint: AuditCheckpoint) -> dict[str, Any]:
    """The checkpoint as the API and the ``audit.checkpoint_signed`` webhook send it (callers may
    re-encode ``created_at``, hence a plain dict)."""
    return {
        "size": checkpoint.size,
        "root": _b64(bytes(checkpoint.root)),
        "note": checkpoint.note,
        "created_at": checkpoint.created_at,
        "keys": checkpoint.key_names.split(","),
    }


def public_keys() -> list[str]:
    return verifier_keys_for(head().origin)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
