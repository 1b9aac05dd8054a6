"""Update logs in pure Python (numpy only): the format `fedguard scan` reads (docs/formats.md,
"Update logs"; docs/forensics.md).

A log is a directory with one safetensors file per round (``round_000012.safetensors``) and a
``manifest.json``. This module mirrors the C++ writer (host/io/update_log.cc) byte for byte in
layout, so logs written from Python and from C++ are interchangeable::

    from fedguard.update_log import UpdateLogWriter
    log = UpdateLogWriter("runs/exp1/log")
    log.append(round=3, updates=u,                    # (n, d) array, or a list of 1-D arrays
               client_ids=["a", "b", "c"], num_samples=[10, 12, 9],
               malicious=["c"])                       # ground truth, when known

It also has a small validating reader (:func:`read_round`) for tests and notebooks.
"""

from __future__ import annotations

import json
import math
import os
import stat
import struct
from typing import Any, Iterable, Optional, Sequence

import numpy as np

__all__ = ["UpdateLogWriter", "write_round", "read_round", "read_manifest"]

ROUND_FORMAT = "fedguard-round"
LOG_FORMAT = "fedguard-update-log"
_RESERVED = {"format", "version", "round", "n", "d", "client_ids", "num_samples", "malicious", "layers"}
_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "F64": np.dtype("<f8"), "I64": np.dtype("<i8"),
           "I32": np.dtype("<i4"), "U8": np.dtype("u1"), "BOOL": np.dtype("?"), "BF16": np.dtype("<u2")}


def _check_round(round: Any) -> None:
    """The scanner reads round numbers as uint64: anything else would write an unreadable log."""
    if isinstance(round, bool) or not isinstance(round, (int, np.integer)) or not 0 <= int(round) < 2**64:
        raise ValueError(f"round must be a non-negative integer, got {round!r} (at most 2^64 - 1)")


def _id_text(client_id: Any, index: int) -> str:
    """str(client_id), refused where the scanner would refuse the log: a NUL, or text that is not
    UTF-8 (a lone surrogate; hostile probe)."""
    s = str(client_id)
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"client_ids[{index}] is not valid UTF-8 text: {s!r}") from None
    if "\0" in s:
        raise ValueError(f"client_ids[{index}] holds a NUL character: {s!r}")
    return s


def _as_matrix(updates: Any) -> tuple[np.ndarray, str]:
    """(n, d) C-contiguous little-endian array and its safetensors dtype."""
    if hasattr(updates, "detach"):  # a torch tensor, without importing torch
        updates = updates.detach().cpu().float().numpy()
    if isinstance(updates, (list, tuple)):
        rows = [np.asarray(r.detach().cpu().float().numpy() if hasattr(r, "detach") else r).reshape(-1) for r in updates]
        lengths = {r.size for r in rows}
        if len(lengths) > 1:
            raise ValueError(f"client updates have different lengths {sorted(lengths)}; an update log round needs one d")
        updates = np.stack(rows) if rows else np.zeros((0, 0), np.float32)
    a = np.asarray(updates)
    if a.ndim != 2:
        raise ValueError(f"updates must be 2-D (n, d), got shape {a.shape}")
    if a.dtype.name == "bfloat16":  # ml_dtypes
        return np.ascontiguousarray(a).view("<u2"), "BF16"
    if a.dtype == np.float16:
        return np.ascontiguousarray(a, dtype="<f2"), "F16"
    return np.ascontiguousarray(a, dtype="<f4"), "F32"


def _safetensors_bytes(tensors: Sequence[tuple[str, str, np.ndarray]], metadata: dict) -> list:
    """Header and data blobs: tensors in name order, header padded to 8 bytes with spaces."""
    header: dict = {}
    if metadata:
        header["__metadata__"] = dict(sorted(metadata.items()))
    offset, blobs = 0, []
    for name, dtype, arr in sorted(tensors, key=lambda t: t[0]):
        size = arr.nbytes
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + size]}
        blobs.append(arr)
        offset += size
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    return [struct.pack("<Q", len(text)), text, *blobs]


def _atomic_write(path: str, parts: Iterable) -> None:
    tmp = path + ".tmp"
    try:
        with open(tmp, "wb") as f:
            for p in parts:
                f.write(p if isinstance(p, (bytes, bytearray)) else memoryview(p).cast("B"))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_round(path: str, round: int, updates: Any, client_ids: Optional[Sequence] = None,
                num_samples: Optional[Sequence[float]] = None, malicious: Optional[Sequence] = None,
                reference: Any = None, layers: Optional[Sequence[tuple[str, int]]] = None,
                extra: Optional[dict] = None) -> tuple[int, int]:
    """Writes one round as a safetensors file (tensor ``updates`` [n, d], optional ``reference``
    [d]; everything else in ``__metadata__`` as strings). ``malicious=[]`` records a round known
    to be clean; ``None`` means the ground truth is unknown. Returns (n, d)."""
    x, dtype = _as_matrix(updates)
    n, d = x.shape
    # What the scanner refuses, refused here: a log must not be written that cannot be read.
    _check_round(round)
    meta = {"format": ROUND_FORMAT, "version": "1", "round": str(int(round)), "n": str(n), "d": str(d)}
    ids = [str(i) for i in range(n)]
    if client_ids is not None:
        ids = [_id_text(c, i) for i, c in enumerate(client_ids)]
        if len(ids) != n:
            raise ValueError(f"{len(ids)} client ids for n={n}")
        meta["client_ids"] = json.dumps(ids)
    if num_samples is not None:
        w = [float(v) for v in num_samples]
        if len(w) != n:
            raise ValueError(f"{len(w)} num_samples for n={n}")
        if not all(math.isfinite(v) for v in w):
            raise ValueError("num_samples must be finite to be stored as JSON")
        meta["num_samples"] = json.dumps(w)
    if malicious is not None:
        bad = [str(c) for c in malicious if str(c) not in set(ids)]
        if bad:
            raise ValueError(f"malicious ids {bad[:5]} are not clients of the round (client ids: {ids[:5]}...)")
        meta["malicious"] = json.dumps([str(c) for c in malicious])
    if layers:
        total = sum(int(s) for _, s in layers)
        if total != d:
            raise ValueError(f"the layers sum to {total} elements, d={d}")
        meta["layers"] = json.dumps([[str(name), int(s)] for name, s in layers])
    for key, value in (extra or {}).items():
        if key in _RESERVED:
            raise ValueError(f"extra metadata key {key!r} is reserved")
        meta[str(key)] = value if isinstance(value, str) else json.dumps(value)
    tensors = [("updates", dtype, x)]
    if reference is not None:
        ref = np.ascontiguousarray(np.asarray(reference, dtype="<f4").reshape(-1))
        if ref.size != d:
            raise ValueError(f"reference has {ref.size} values, d={d}")
        tensors.append(("reference", "F32", ref))
    _atomic_write(path, _safetensors_bytes(tensors, meta))
    return n, d


class UpdateLogWriter:
    """Appends rounds to a log directory (created if needed; an existing log is continued)."""

    def __init__(self, directory: str, info: Optional[dict] = None) -> None:
        self.directory = os.fspath(directory)
        os.makedirs(self.directory, exist_ok=True)
        self._manifest_path = os.path.join(self.directory, "manifest.json")
        if os.path.exists(self._manifest_path):
            self.manifest = read_manifest(self.directory)
        else:
            self.manifest = {"format": LOG_FORMAT, "version": 1, "info": {}, "rounds": []}
        if info is not None:
            self.manifest["info"] = dict(info)
            self._write_manifest()

    def append(self, round: int, updates: Any, **kwargs: Any) -> str:
        """Writes ``round_%06d.safetensors`` (arguments as :func:`write_round`) and rewrites the
        manifest atomically. Returns the round file's path."""
        _check_round(round)  # int(1.5) was 1 (hostile probe)
        round = int(round)
        if any(r.get("round") == round for r in self.manifest["rounds"]):
            raise ValueError(f"{self.directory}: round {round} is already in the log")
        name = f"round_{round:06d}.safetensors"
        path = os.path.join(self.directory, name)
        n, d = write_round(path, round, updates, **kwargs)
        self.manifest["rounds"].append({"round": round, "file": name, "n": n, "d": d,
                                        "bytes": os.path.getsize(path)})
        self._write_manifest()
        return path

    def _write_manifest(self) -> None:
        text = json.dumps(self.manifest, indent=1) + "\n"
        _atomic_write(self._manifest_path, [text.encode("utf-8")])

    def __len__(self) -> int:
        return len(self.manifest["rounds"])


def _read_regular(path: str, max_bytes: int = 64 << 20) -> bytes:
    """The bytes of a regular file, opened without blocking (a FIFO blocked open(); hostile probe)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{path}: not a regular file")
        if st.st_size > max_bytes:
            raise ValueError(f"{path}: {st.st_size} bytes, more than the {max_bytes} a manifest may have")
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read()
    finally:
        os.close(fd)


def read_manifest(directory: str) -> dict:
    m = json.loads(_read_regular(os.path.join(directory, "manifest.json")))
    if not isinstance(m, dict) or m.get("format") != LOG_FORMAT or m.get("version") != 1:
        raise ValueError(f"{directory}/manifest.json: not a version-1 {LOG_FORMAT} manifest")
    return m


def read_round(path: str) -> dict:
    """Reads and validates a round file (memory-mapped). Returns ``round``, ``updates`` (an
    (n, d) array view, or a dict name -> array for per-client files), ``client_ids``,
    ``num_samples``, ``malicious`` (None when unknown), ``reference``, ``layers``, ``metadata``.
    Malformed files raise ValueError naming the file and the byte offset."""
    data = np.memmap(path, dtype=np.uint8, mode="r") if os.path.getsize(path) else np.zeros(0, np.uint8)

    def fail(offset: int, what: str) -> None:
        raise ValueError(f"{path}: offset {offset}: {what}")

    if data.size < 8:
        fail(data.size, f"file too short ({data.size} bytes) for the 8-byte header length")
    (hlen,) = struct.unpack("<Q", bytes(data[:8]))
    if hlen > data.size - 8:
        fail(0, f"header length {hlen} runs past the end of the file (size {data.size})")
    try:
        header = json.loads(bytes(data[8:8 + hlen]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(8, f"the header is not valid JSON: {exc}")
    if not isinstance(header, dict):
        fail(8, "the header must be a JSON object")
    start, buffer = 8 + hlen, data.size - 8 - hlen
    meta = header.pop("__metadata__", {}) or {}
    tensors, spans = {}, []
    for name, info in header.items():
        try:
            dtype = _DTYPES[info["dtype"]]
            shape = [int(s) for s in info["shape"]]
            begin, end = (int(v) for v in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            fail(8, f"tensor {name!r}: bad entry")
        if min(shape, default=0) < 0 or not 0 <= begin <= end <= buffer:
            fail(start + min(max(begin, 0), buffer), f"tensor {name!r}: data [{begin}, {end}) outside the buffer")
        if int(np.prod(shape)) * dtype.itemsize != end - begin:
            fail(start + begin, f"tensor {name!r}: data_offsets span {end - begin} bytes, the shape needs "
                                f"{int(np.prod(shape)) * dtype.itemsize}")
        spans.append((begin, end, name))
        arr = data[start + begin:start + end].view(dtype).reshape(shape)
        tensors[name] = arr
    cursor = 0
    for begin, end, name in sorted(spans):
        if begin != cursor:
            fail(start + min(begin, cursor), f"tensor {name!r} overlaps or leaves a hole")
        cursor = end
    if cursor != buffer:
        fail(start + cursor, f"{buffer - cursor} bytes after the last tensor")

    def meta_list(key):
        return json.loads(meta[key]) if key in meta else None

    out = {"round": int(meta["round"]) if "round" in meta else None,
           "client_ids": meta_list("client_ids"), "num_samples": meta_list("num_samples"),
           "malicious": meta_list("malicious"), "layers": meta_list("layers"),
           "reference": tensors.get("reference"),
           "metadata": {k: v for k, v in meta.items() if k not in _RESERVED}}
    out["updates"] = tensors["updates"] if "updates" in tensors else {
        k: v for k, v in tensors.items() if k.startswith("client/")}
    return out
