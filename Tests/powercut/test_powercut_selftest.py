"""The simulator itself: selftest.c writes, syncs, renames and unlinks files through every call
the shim intercepts (from several threads), then kills itself; the reconstruction must give
exactly what the POSIX durability rules promise, and replaying every operation must give exactly
what is on disk."""
import os
import shutil
import subprocess

import pytest

import powercut

BASE = {"keep.txt": b"base-content", "old.txt": b"old", "trunc.txt": b"0123456789", "ot.txt": b"original",
        "zombie.txt": b"zombie"}
THREADS, RECORDS, SYNCED_RECORDS, RECORD = 4, 205, 200, 100


def thread_file(i: int, records: int) -> bytes:
    return b"".join(bytes([ord("0") + i]) + bytes([ord("a") + k % 26]) * (RECORD - 1) for k in range(records))


def expected_after_power_cut():
    tree = {
        "a.txt": b"hello",                         # " world" was never synced
        "runway.dat": b"REC1" + bytes(8188),       # zeros synced ahead, REC1 synced, REC2 not (sync_file_range is no sync)
        "keep.txt": b"base-content",               # overwritten, never synced
        "trunc.txt": b"012",                       # cut to 3 and synced, then cut to 1
        "ot.txt": b"original",                     # O_TRUNC and a write, never synced
        "final": b"atomic",                        # synced as tmp, renamed, directory synced
        "app.log": b"onetwo",                      # O_APPEND; "three" not synced
        "vec.dat": b"aXYd",                        # writev + pwritev synced; pwritev2 "tail" not
        "fall.dat": bytes(4096),                   # fallocate synced, posix_fallocate not
        "dup.dat": b"dup!Z",                       # through dup, F_DUPFD and a second open; synced through the first
        "creat.txt": b"c",
        "gone.txt": b"",                           # created (entry synced), never written
        "sub2": None,
        "sub2/g": b"gee",
        "zombie.txt": b"zombie",                   # unlinked after the directory's last sync
    }
    for i in range(THREADS):
        tree[f"t{i}.dat"] = thread_file(i, SYNCED_RECORDS)
    # Gone: old.txt (unlink synced), tmp (renamed), b.txt (synced, but not its entry),
    # sub/ and sub/f (sub's own entry never synced).
    return tree


def expected_after_kill():
    tree = dict(expected_after_power_cut())
    tree.update({"a.txt": b"hello world", "runway.dat": b"REC1REC2" + bytes(8184), "keep.txt": b"XXXX-content",
                 "trunc.txt": b"0", "ot.txt": b"new", "app.log": b"onetwothree", "vec.dat": b"aXYdtail",
                 "fall.dat": bytes(8192), "dup.dat": b"dup!ZlostL", "b.txt": b"bbb", "sub": None, "sub/f": b"eff"})
    del tree["zombie.txt"]
    for i in range(THREADS):
        tree[f"t{i}.dat"] = thread_file(i, RECORDS)
    return tree


@pytest.fixture
def run(shim, selftest_program, tmp_path):
    directory, base, log = tmp_path / "dir", tmp_path / "base", tmp_path / "ops.log"
    directory.mkdir()
    for name, content in BASE.items():
        (directory / name).write_bytes(content)
    shutil.copytree(directory, base)
    result = subprocess.run([selftest_program, str(directory)], env=powercut.shim_environment(shim, str(directory), str(log)),
                            capture_output=True, timeout=30)
    assert result.returncode == -9, f"selftest exited with {result.returncode}: {result.stderr.decode()}"
    return directory, base, log


def test_the_program_did_what_the_test_expects(run):
    directory, _, _ = run
    assert powercut.tree_differences(expected_after_kill(), powercut.read_tree(str(directory))) == []


def test_replaying_every_operation_gives_the_directory_on_disk(run):
    directory, base, log = run
    tree, report = powercut.simulate(str(base), powercut.read_log(str(log)), everything=True)
    assert report.warnings == []
    assert powercut.tree_differences(powercut.read_tree(str(directory)), tree) == []


def test_power_cut_keeps_only_what_was_synced(run, tmp_path):
    _, base, log = run
    out = tmp_path / "out"
    report = powercut.reconstruct(str(base), str(log), str(out))
    assert report.warnings == [] and report.unfinished_syncs == 0 and report.failed_syncs == 0
    assert powercut.tree_differences(expected_after_power_cut(), powercut.read_tree(str(out))) == []
    assert report.vanished == ["b.txt", "sub", "sub/f"]


def test_log_records_of_threads_are_whole_and_in_order(run):
    _, _, log = run
    records = powercut.read_log(str(log))  # raises on a damaged record or a missing sequence number
    threads = {r.tid for r in records if r.type == powercut.WRITE and r.data_len == RECORD}
    assert len(threads) == THREADS
    writes = [r for r in records if r.type == powercut.WRITE and r.data_len == RECORD]
    assert len(writes) == THREADS * RECORDS


def test_a_sync_that_did_not_end_counts_for_nothing(tmp_path):
    """Hand-made log: a write, then a sync that began but never ended (killed in fdatasync)."""
    import struct

    def record(seq, typ, handle=0, a=0, b=0, c=0, path1=b"", data=b"", flags=0):
        size = powercut.HEADER.size + len(path1) + len(data)
        return powercut.HEADER.pack(powercut.MAGIC, size, seq, 0, typ, 1, handle, a, b, c, len(path1), 0,
                                    len(data), flags) + path1 + data

    log = tmp_path / "ops.log"
    log.write_bytes(b"".join([
        record(1, powercut.START, path1=b"/x"),
        record(2, powercut.OPEN, handle=1, a=os.O_CREAT | os.O_WRONLY, b=1, path1=b"f"),
        record(3, powercut.OPEN, handle=2, a=os.O_RDONLY, c=1, path1=b"."),
        record(4, powercut.SYNC_BEGIN, handle=2, a=1), record(5, powercut.SYNC_END, handle=2, a=1),
        record(6, powercut.WRITE, handle=1, a=0, b=3, data=b"abc"),
        record(7, powercut.SYNC_BEGIN, handle=1, a=2, b=1),
    ]) + struct.pack("<I", powercut.MAGIC))  # and a torn record
    tree, report = powercut.simulate(None, powercut.read_log(str(log)))
    assert tree == {"f": b""} and report.unfinished_syncs == 1
    assert powercut.in_flight(powercut.read_log(str(log))) == []


def test_a_change_under_way_at_the_kill_is_reported(tmp_path):
    """A write whose intent is its thread's last record may or may not have happened."""
    def record(seq, typ, handle=0, a=0, b=0, c=0, path1=b"", data=b"", tid=1):
        size = powercut.HEADER.size + len(path1) + len(data)
        return powercut.HEADER.pack(powercut.MAGIC, size, seq, 0, typ, tid, handle, a, b, c, len(path1), 0,
                                    len(data), 0) + path1 + data

    log = tmp_path / "ops.log"
    log.write_bytes(b"".join([
        record(1, powercut.START, path1=b"/x"),
        record(2, powercut.OPEN, handle=1, a=os.O_WRONLY, path1=b"f"),
        record(3, powercut.INTENT, handle=1, a=0, b=3, c=powercut.WRITE),
        record(4, powercut.WRITE, handle=1, a=0, b=3, data=b"abc"),
        record(5, powercut.INTENT, handle=1, a=3, b=3, c=powercut.WRITE),
        record(6, powercut.OPEN, handle=2, a=os.O_WRONLY, path1=b"g", tid=2),
    ]))
    records = powercut.read_log(str(log))
    assert powercut.in_flight(records) == ["f"]
    tree, _ = powercut.simulate(None, records, everything=True)
    assert tree == {"f": b"abc", "g": b""}
