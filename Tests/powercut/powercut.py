"""Power-loss simulation: reads the op log written by the LD_PRELOAD shim (shim.c) and computes
what a power cut at the end of the log would have left on disk, in the worst case the POSIX
durability contract allows (see README.md).

    python3 powercut.py reconstruct --base BASE --log LOG --out OUT [--all]
    python3 powercut.py dump LOG

``--all`` applies every logged operation instead (what is on disk after a plain kill -9): used to
check that the shim saw every mutation (it must equal the real directory).
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import os
import shutil
import struct
import subprocess
import sys
from typing import Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))

MAGIC = 0x54554350
HEADER = struct.Struct("<IIQQIiqqqqIIII")

OPEN, CLOSE, DUP, WRITE, TRUNCATE, FALLOCATE, SYNC_BEGIN, SYNC_END, SYNC_RANGE, UNLINK, RENAME, MKDIR, \
    TRUNCATE_PATH, SYNCALL_BEGIN, SYNCALL_END, UNSUPPORTED, START, INTENT = range(1, 19)
TYPE_NAMES = {v: k for k, v in dict(
    OPEN=OPEN, CLOSE=CLOSE, DUP=DUP, WRITE=WRITE, TRUNCATE=TRUNCATE, FALLOCATE=FALLOCATE,
    SYNC_BEGIN=SYNC_BEGIN, SYNC_END=SYNC_END, SYNC_RANGE=SYNC_RANGE, UNLINK=UNLINK, RENAME=RENAME,
    MKDIR=MKDIR, TRUNCATE_PATH=TRUNCATE_PATH, SYNCALL_BEGIN=SYNCALL_BEGIN, SYNCALL_END=SYNCALL_END,
    UNSUPPORTED=UNSUPPORTED, START=START, INTENT=INTENT).items()}
FLAG_ZERO = 1
O_TRUNC = os.O_TRUNC
FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_ZERO_RANGE, FALLOC_FL_INSERT_RANGE = \
    0x01, 0x02, 0x08, 0x10, 0x20


@dataclasses.dataclass
class Record:
    seq: int
    time_ns: int
    type: int
    tid: int
    handle: int
    a: int
    b: int
    c: int
    path1: str
    path2: str
    data: Optional[memoryview]  # None for a write of zeros (FLAG_ZERO) or no data
    data_len: int

    def __str__(self):
        name = TYPE_NAMES.get(self.type, str(self.type))
        extra = f" data={bytes(self.data[:16])!r}{'...' if self.data_len > 16 else ''}" if self.data is not None else ""
        paths = " ".join(p for p in (self.path1, self.path2) if p)
        return (f"#{self.seq} t{self.tid} {name} h={self.handle} a={self.a} b={self.b} c={self.c} "
                f"{paths} len={self.data_len}{' ZERO' if self.type == WRITE and self.data is None else ''}{extra}")


class LogError(Exception):
    pass


def read_log(path: str) -> List[Record]:
    """Parses the op log. Raises LogError if a record is damaged or a sequence number is missing
    (the shim writes each record with one write(), so neither may happen). A torn last record (a
    SIGKILL can cut a write short) is ignored: its operation counts as not done, which for a sync
    is the pessimistic choice and for a mutation changes nothing (no sync can follow it)."""
    with open(path, "rb") as f:
        blob = f.read()
    view = memoryview(blob)
    records, at, last_seq = [], 0, 0
    while at < len(blob):
        if len(blob) - at < HEADER.size:
            break  # torn last record: the process was killed while writing it; it counts as not done
        magic, size, seq, time_ns, typ, tid, handle, a, b, c, l1, l2, dlen, flags = HEADER.unpack_from(blob, at)
        if magic != MAGIC or size < HEADER.size:
            raise LogError(f"{path}: bad record at byte {at} (magic {magic:#x}, size {size})")
        if at + size > len(blob):
            break  # torn last record
        if typ == START and seq != 1:
            raise LogError(f"{path}: a second process (pid {a}) wrote to this log (was LD_PRELOAD inherited, "
                           "e.g. by strace? use strace -E LD_PRELOAD=...)")
        if seq != last_seq + 1:
            raise LogError(f"{path}: record {seq} follows {last_seq}: records were lost or interleaved")
        last_seq = seq
        p = at + HEADER.size
        path1 = blob[p:p + l1].decode("utf-8", "surrogateescape")
        p += l1
        path2 = blob[p:p + l2].decode("utf-8", "surrogateescape")
        p += l2
        stored = size - HEADER.size - l1 - l2
        if flags & FLAG_ZERO:
            if stored != 0:
                raise LogError(f"{path}: zero write #{seq} carries data")
            data = None
        else:
            if stored != dlen:
                raise LogError(f"{path}: record #{seq} holds {stored} bytes of data, says {dlen}")
            data = view[p:p + dlen] if dlen else None
        records.append(Record(seq, time_ns, typ, tid, handle, a, b, c, path1, path2, data, dlen))
        at += size
    return records


# ---- the model --------------------------------------------------------------------------------

class Node:
    """An inode: a file or a directory, live across renames."""
    _ids = 0

    def __init__(self, kind: str, base: Optional[bytes] = None):
        Node._ids += 1
        self.id = Node._ids
        self.kind = kind            # "file" or "dir"
        self.base = base            # content at the start of the run (None: created during it)
        self.ops: list = []         # content operations: (seq, kind, args)
        self.last_sync = 0          # begin seq of the last successful fsync/fdatasync (0: none)

    def __repr__(self):
        return f"<{self.kind} #{self.id}>"


def parent_of(path: str) -> str:
    return os.path.dirname(path) or "."


@dataclasses.dataclass
class EntryOp:
    seq: int
    kind: str                    # create, mkdir, unlink, rename
    path: str
    node: Node
    dirs: tuple                  # directory nodes whose sync makes it durable
    path2: str = ""


@dataclasses.dataclass
class Report:
    records: int = 0
    files: int = 0
    dirs: int = 0
    content_ops: int = 0
    content_ops_dropped: int = 0
    entry_ops: int = 0
    entry_ops_dropped: int = 0
    syncs: int = 0
    failed_syncs: int = 0
    unfinished_syncs: int = 0
    vanished: List[str] = dataclasses.field(default_factory=list)
    removed_shm: List[str] = dataclasses.field(default_factory=list)
    warnings: List[str] = dataclasses.field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.records} log records; kept {self.content_ops - self.content_ops_dropped}/{self.content_ops} "
                f"content ops and {self.entry_ops - self.entry_ops_dropped}/{self.entry_ops} directory-entry ops; "
                f"{self.syncs} syncs ({self.failed_syncs} failed, {self.unfinished_syncs} unfinished); "
                f"{self.files} files, {self.dirs} dirs; vanished: {self.vanished or 'none'}"
                + (f"; warnings: {self.warnings}" if self.warnings else ""))


def _scan_base(base: Optional[str]) -> Dict[str, Node]:
    namespace: Dict[str, Node] = {".": Node("dir", None)}
    if base is None or not os.path.isdir(base):
        return namespace
    for root, dirs, files in os.walk(base):
        rel_root = os.path.relpath(root, base)
        for d in dirs:
            namespace[os.path.normpath(os.path.join(rel_root, d))] = Node("dir")
        for f in files:
            full = os.path.join(root, f)
            if os.path.islink(full) or not os.path.isfile(full):
                continue
            with open(full, "rb") as fh:
                namespace[os.path.normpath(os.path.join(rel_root, f))] = Node("file", fh.read())
    return namespace


def _move(namespace: Dict[str, Node], src: str, dst: str) -> None:
    """Renames src to dst in a namespace, with everything below src if it is a directory."""
    node = namespace.pop(src)
    for key in [k for k in namespace if k == dst or k.startswith(dst + "/")]:
        del namespace[key]
    namespace[dst] = node
    if node.kind == "dir":
        prefix = src + "/"
        for key in [k for k in namespace if k.startswith(prefix)]:
            namespace[dst + "/" + key[len(prefix):]] = namespace.pop(key)


def _remove(namespace: Dict[str, Node], path: str) -> None:
    namespace.pop(path, None)
    prefix = path + "/"
    for key in [k for k in namespace if k.startswith(prefix)]:
        del namespace[key]


def _apply(content: bytearray, kind: str, args) -> None:
    if kind == "write":
        offset, length, data = args
        end = offset + length
        if len(content) < end:
            content.extend(bytes(end - len(content)))
        content[offset:end] = data if data is not None else bytes(length)
    elif kind == "truncate":
        (length,) = args
        if length < len(content):
            del content[length:]
        else:
            content.extend(bytes(length - len(content)))
    elif kind == "fallocate":
        offset, length, mode = args
        end = offset + length
        keep = mode & FALLOC_FL_KEEP_SIZE
        if mode & FALLOC_FL_PUNCH_HOLE:
            stop = min(end, len(content))
            if stop > offset:
                content[offset:stop] = bytes(stop - offset)
        elif mode & FALLOC_FL_COLLAPSE_RANGE:
            del content[offset:end]
        elif mode & FALLOC_FL_INSERT_RANGE:
            content[offset:offset] = bytes(length)
        elif mode & FALLOC_FL_ZERO_RANGE:
            stop = min(end, len(content))
            if stop > offset:
                content[offset:stop] = bytes(stop - offset)
            if not keep and end > len(content):
                content.extend(bytes(end - len(content)))
        elif not keep and end > len(content):  # plain allocation: the size grows, with zeros
            content.extend(bytes(end - len(content)))
    else:
        raise AssertionError(kind)


def in_flight(records: List[Record]) -> List[str]:
    """The paths of changes under way when the process was killed: an INTENT that is its
    thread's last record. Such a change may or may not have happened (it is never covered by a
    sync, so a power cut drops it either way), so a comparison with the killed process's
    directory must not count those paths."""
    last: Dict[int, Record] = {}
    paths: Dict[int, str] = {}
    for r in records:
        last[r.tid] = r
        if r.type == OPEN:
            paths[r.handle] = r.path1
    found = []
    for r in last.values():
        if r.type == INTENT:
            found += [p for p in (r.path1, r.path2, paths.get(r.handle, "")) if p]
    return found


def simulate(base: Optional[str], records: List[Record], everything: bool = False):
    """Returns ({relative path: bytes or None for a directory}, Report) for the state after a
    power cut at the end of ``records`` (worst case), or with ``everything`` the state after a
    plain crash of the process (every logged operation applied)."""
    report = Report(records=len(records))
    live = _scan_base(base)
    initial = dict(live)
    handles: Dict[int, Node] = {}
    pending_syncs: Dict[int, tuple] = {}
    entry_ops: List[EntryOp] = []
    all_nodes = set(live.values())
    syncall = 0

    def dir_node(path: str) -> Node:
        node = live.get(parent_of(path))
        if node is None or node.kind != "dir":
            report.warnings.append(f"parent of {path} unknown")
            node = Node("dir")
        return node

    for r in records:
        t = r.type
        if t == OPEN:
            node = live.get(r.path1)
            created = bool(r.b)
            if created or node is None:
                if not created:
                    report.warnings.append(f"#{r.seq}: {r.path1} opened but neither in the base nor created")
                node = Node("dir" if r.c else "file", None)
                all_nodes.add(node)
                if created:
                    entry_ops.append(EntryOp(r.seq, "create", r.path1, node, (dir_node(r.path1),)))
                live[r.path1] = node
            handles[r.handle] = node
            if (r.a & O_TRUNC) and node.kind == "file":
                node.ops.append((r.seq, "truncate", (0,)))
        elif t == WRITE:
            handles[r.handle].ops.append((r.seq, "write", (r.a, r.data_len, r.data)))
        elif t == TRUNCATE:
            handles[r.handle].ops.append((r.seq, "truncate", (r.a,)))
        elif t == TRUNCATE_PATH:
            node = live.get(r.path1)
            if node is None:
                report.warnings.append(f"#{r.seq}: truncate of unknown {r.path1}")
            else:
                node.ops.append((r.seq, "truncate", (r.a,)))
        elif t == FALLOCATE:
            handles[r.handle].ops.append((r.seq, "fallocate", (r.a, r.b, r.c)))
        elif t == SYNC_BEGIN:
            pending_syncs[r.a] = (r.seq, handles[r.handle])
        elif t == SYNC_END:
            begin, node = pending_syncs.pop(r.a)
            report.syncs += 1
            if r.c == 0:
                node.last_sync = max(node.last_sync, begin)
            else:
                report.failed_syncs += 1
        elif t == SYNCALL_BEGIN:
            pending_syncs[r.a] = (r.seq, None)
        elif t == SYNCALL_END:
            begin, _ = pending_syncs.pop(r.a)
            report.syncs += 1
            if r.c == 0:
                syncall = max(syncall, begin)
            else:
                report.failed_syncs += 1
        elif t == UNLINK:
            node = live.get(r.path1)
            if node is None:
                report.warnings.append(f"#{r.seq}: unlink of unknown {r.path1}")
                continue
            entry_ops.append(EntryOp(r.seq, "unlink", r.path1, node, (dir_node(r.path1),)))
            _remove(live, r.path1)
        elif t == RENAME:
            node = live.get(r.path1)
            if node is None:
                report.warnings.append(f"#{r.seq}: rename of unknown {r.path1}")
                continue
            entry_ops.append(EntryOp(r.seq, "rename", r.path1, node, (dir_node(r.path1), dir_node(r.path2)), r.path2))
            _move(live, r.path1, r.path2)
        elif t == MKDIR:
            node = Node("dir", None)
            all_nodes.add(node)
            entry_ops.append(EntryOp(r.seq, "mkdir", r.path1, node, (dir_node(r.path1),)))
            live[r.path1] = node
        elif t == UNSUPPORTED:
            what = f"#{r.seq}: {r.path2} on {r.path1 or handles.get(r.handle)}"
            if not (r.path2 == "mmap-shared-write" and _is_shm(handles.get(r.handle), live)):
                report.warnings.append(what)
        elif t in (CLOSE, DUP, SYNC_RANGE, START, INTENT):
            pass  # sync_file_range starts write-back but promises nothing; an intent is reported when done
        else:
            raise LogError(f"unknown record type {t} (#{r.seq})")
    report.unfinished_syncs = len(pending_syncs)

    def synced_after(node: Node, seq: int) -> bool:
        return everything or max(node.last_sync, syncall) > seq

    # Directory entries: replay only those a later sync of their directory (of both, for a
    # rename) made durable; the rest are undone.
    if everything:
        namespace = live
        report.entry_ops = len(entry_ops)
    else:
        namespace = dict(initial)
        for op in entry_ops:
            report.entry_ops += 1
            if not all(synced_after(d, op.seq) for d in op.dirs):
                report.entry_ops_dropped += 1
                continue
            if op.kind in ("create", "mkdir"):
                parent = namespace.get(parent_of(op.path))
                if parent is None or parent.kind != "dir":
                    report.entry_ops_dropped += 1  # its directory itself vanished
                    continue
                namespace[op.path] = op.node
            elif op.kind == "unlink":
                if namespace.get(op.path) is op.node:
                    _remove(namespace, op.path)
            elif op.kind == "rename":
                parent = namespace.get(parent_of(op.path2))
                if namespace.get(op.path) is op.node and parent is not None and parent.kind == "dir":
                    _move(namespace, op.path, op.path2)
                else:
                    report.entry_ops_dropped += 1
        report.vanished = sorted(p for p, n in live.items() if namespace.get(p) is not n and p != ".")

    # File contents: the base, then every mutation a later sync of that file covered.
    result: Dict[str, Optional[bytes]] = {}
    for path, node in sorted(namespace.items()):
        if path == ".":
            continue
        if node.kind == "dir":
            result[path] = None
            report.dirs += 1
            continue
        content = bytearray(node.base or b"")
        for seq, kind, args in node.ops:
            report.content_ops += 1
            if synced_after(node, seq):
                _apply(content, kind, args)
            else:
                report.content_ops_dropped += 1
        result[path] = bytes(content)
        report.files += 1
    return result, report


def _is_shm(node: Optional[Node], live: Dict[str, Node]) -> bool:
    return any(n is node and p.endswith("-shm") for p, n in live.items())


def write_tree(tree: Dict[str, Optional[bytes]], out: str, drop_shm: bool = True) -> List[str]:
    """Replaces the contents of directory ``out`` by ``tree``; returns the -shm files dropped."""
    if os.path.isdir(out):
        for entry in os.listdir(out):
            full = os.path.join(out, entry)
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full)
            else:
                os.unlink(full)
    else:
        os.makedirs(out)
    dropped = []
    for path, content in sorted(tree.items()):
        full = os.path.join(out, path)
        if content is None:
            os.makedirs(full, exist_ok=True)
        elif drop_shm and path.endswith("-shm"):
            dropped.append(path)  # memory-mapped: its writes are invisible; SQLite rebuilds it from the WAL
        else:
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "wb") as f:
                f.write(content)
    return dropped


def reconstruct(base: Optional[str], log: str, out: str, everything: bool = False) -> Report:
    """Writes into ``out`` (emptied first) what a power cut would have left of the watched
    directory, given its copy ``base`` from before the run (None: it was empty) and the op log."""
    tree, report = simulate(base, read_log(log), everything)
    report.removed_shm = write_tree(tree, out, drop_shm=not everything)
    return report


def read_tree(root: str) -> Dict[str, Optional[bytes]]:
    """The directory as simulate() returns trees (for comparisons)."""
    tree: Dict[str, Optional[bytes]] = {}
    for dirpath, dirs, files in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for d in dirs:
            tree[os.path.normpath(os.path.join(rel, d))] = None
        for f in files:
            with open(os.path.join(dirpath, f), "rb") as fh:
                tree[os.path.normpath(os.path.join(rel, f))] = fh.read()
    return tree


def tree_differences(expected: Dict[str, Optional[bytes]], actual: Dict[str, Optional[bytes]],
                     ignore=lambda path: False) -> List[str]:
    problems = []
    for path in sorted(set(expected) | set(actual)):
        if ignore(path):
            continue
        if path not in actual:
            problems.append(f"{path}: missing")
        elif path not in expected:
            problems.append(f"{path}: unexpected")
        elif expected[path] != actual[path]:
            e, a = expected[path], actual[path]
            if e is None or a is None:
                problems.append(f"{path}: file/directory mismatch")
            else:
                first = next((i for i in range(min(len(e), len(a))) if e[i] != a[i]), min(len(e), len(a)))
                problems.append(f"{path}: {len(a)} bytes, expected {len(e)}; first difference at byte {first}")
    return problems


def build_shim(out_dir: str) -> str:
    """Compiles shim.c into ``out_dir``/powercut.so and returns its path."""
    target = os.path.join(out_dir, "powercut.so")
    subprocess.run([compiler(), "-shared", "-fPIC", "-O2", "-o", target, os.path.join(HERE, "shim.c"), "-ldl"],
                   check=True)
    return target


def compiler() -> str:
    """$CC, else the first of cc, gcc, clang on PATH (Swift's toolchain brings clang)."""
    if os.environ.get("CC"):
        return os.environ["CC"]
    for name in ("cc", "gcc", "clang"):
        if shutil.which(name):
            return name
    raise RuntimeError("no C compiler found (cc, gcc or clang): set CC")


def shim_environment(shim: str, watched: str, log: str, env: Optional[dict] = None) -> dict:
    env = dict(os.environ if env is None else env)
    env["LD_PRELOAD"] = shim + (" " + env["LD_PRELOAD"] if env.get("LD_PRELOAD") else "")
    env["POWERCUT_DIR"] = os.path.abspath(watched)
    env["POWERCUT_LOG"] = os.path.abspath(log)
    return env


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("reconstruct")
    rec.add_argument("--base", help="copy of the directory before the run (default: it was empty)")
    rec.add_argument("--log", required=True)
    rec.add_argument("--out", required=True)
    rec.add_argument("--all", action="store_true", help="apply every operation (plain crash, no power cut)")
    dump = sub.add_parser("dump")
    dump.add_argument("log")
    dump.add_argument("--stats", action="store_true", help="only count records by type and path")
    args = parser.parse_args(argv)
    if args.command == "reconstruct":
        print(reconstruct(args.base, args.log, args.out, args.all).summary())
    else:
        records = read_log(args.log)
        if args.stats:
            paths = {}
            counts = collections.Counter()
            for r in records:
                if r.type == OPEN:
                    paths[r.handle] = r.path1
                counts[(TYPE_NAMES[r.type], r.path1 or paths.get(r.handle, ""))] += 1
            for (name, path), n in sorted(counts.items()):
                print(f"{n:8d} {name:14s} {path}")
        else:
            for r in records:
                print(r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
