"""Incremental verification (issue 15.4): the nightly run checks only the entries since the last
verified checkpoint plus the consistency from it, a full pass runs on a longer schedule, and each
run records what it covered."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command

from audit import checkpoints
from audit.models import AuditEvent, AuditHead, AuditVerification
from audit.tasks import verify_log
from audit.verification import record_verification, verify_incremental
from tests.audit.test_verifiable_log import _set_record, _sql, grow, trusted_keys

pytestmark = pytest.mark.django_db


@pytest.fixture
def verified_log():
    """About 1,000 entries, a checkpoint every 100 and one at an odd size, verified by a full pass."""
    grow(1000, checkpoint_every=100)
    grow(3)
    checkpoints.checkpoint_create()
    full = record_verification(trigger="nightly")
    assert full.ok and full.size == AuditHead.objects.get().size and full.trigger == "nightly"
    return full


def test_nightly_after_a_full_pass_checks_only_the_new_entries(verified_log):
    grow(250, checkpoint_every=50)
    assert verify_log()  # the beat task: incremental, the full pass is recent, then the state check
    run = AuditVerification.objects.exclude(trigger__endswith="-state").latest()
    s0 = verified_log.size
    assert run.ok and run.trigger == "nightly:incremental" and run.size == s0 + 250
    assert run.message.startswith(
        f"incremental: entries {s0} to {s0 + 249} and consistency from checkpoint {s0} to {s0 + 250}"
    )
    result = verify_incremental(since=s0, trusted_keys=trusted_keys())
    assert result.ok and result.entries == 250


def test_a_changed_new_entry_is_named(verified_log):
    grow(40)
    checkpoints.checkpoint_create()
    bad = verified_log.size + 17
    raw = bytearray(AuditEvent.objects.get(seq=bad).record)
    raw[raw.index(b'"n":') + 4] ^= 0x01
    _set_record(bad, bytes(raw))
    run = record_verification(trigger="nightly", mode="incremental")
    assert not run.ok and run.first_bad_seq == bad


def test_old_entries_are_left_to_the_full_pass_which_runs_on_its_schedule(verified_log, settings):
    grow(10)
    _sql("DELETE FROM audit_auditevent WHERE seq = 5")  # before the verified checkpoint
    assert record_verification(trigger="nightly", mode="incremental").ok  # not covered by this run
    AuditVerification.objects.filter(pk=verified_log.pk).update(
        started_at=verified_log.started_at - dt.timedelta(days=settings.AUDIT_FULL_VERIFY_INTERVAL_DAYS)
    )
    assert not verify_log()  # the weekly full pass is due and finds it
    run = AuditVerification.objects.exclude(trigger__endswith="-state").latest()
    assert run.trigger == "nightly" and run.first_bad_seq == 5 and "(full)" in run.message


def test_the_stored_tree_at_the_verified_checkpoint_must_reproduce_its_root(verified_log):
    grow(10)
    # the record just before the verified checkpoint is changed: it no longer hashes under its subtree
    last = verified_log.size - 1
    raw = bytearray(AuditEvent.objects.get(seq=last).record)
    raw[raw.index(b'"n":') + 4] ^= 0x01
    _set_record(last, bytes(raw))
    run = record_verification(trigger="manual", mode="incremental")
    assert not run.ok and run.first_bad_seq == last
    assert f"not included in the checkpoint of size {last + 1}" in run.message


def test_incremental_on_demand_from_the_command(verified_log, capsys):
    grow(5)
    call_command("audit_verify", "--incremental", "--no-progress")
    s0 = verified_log.size
    assert f"incremental: entries {s0} to {s0 + 4}" in capsys.readouterr().out
