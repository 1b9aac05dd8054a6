"""Writes the seed corpus of the fuzz targets (tests/fuzz/corpus/<target>/): small valid files
of every layout the readers accept, and a few near-misses. Rerun after a format change."""
import json
import os
import struct

import numpy as np

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def safetensors(tensors, metadata=None, pad=True):
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, arr, dtype in tensors:
        raw = arr.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def write(target, name, data):
    with open(os.path.join(here, target, name), "wb") as f:
        f.write(data)


x = np.arange(12, dtype="<f4").reshape(3, 4)
meta = {"format": "fedguard-round", "version": "1", "round": "5", "client_ids": '["a","b","c"]',
        "num_samples": "[1,2,3]", "malicious": '["b"]', "layers": '[["w",3],["b",1]]'}
write("safetensors", "block.safetensors", safetensors([("updates", x, "F32"), ("reference", x[0], "F32")], meta))
write("safetensors", "block_f16.safetensors", safetensors([("updates", x.astype("<f2"), "F16")]))
write("safetensors", "block_bf16.safetensors",
      safetensors([("updates", (x.view("<u4") >> 16).astype("<u2"), "BF16")], pad=False))
write("safetensors", "per_client.safetensors",
      safetensors([("client/a", x[0], "F32"), ("client/b", x[1], "F32")], {"client_ids": '["b","a"]'}))
write("safetensors", "per_layer.safetensors",
      safetensors([("client/a/0.b", x[0, :1], "F32"), ("client/a/1.w", x[0, 1:], "F32"),
                   ("client/b/1.w", x[1, 1:].astype("<f2"), "F16"), ("client/b/0.b", x[1, :1], "F32")]))
write("safetensors", "empty_header.safetensors", struct.pack("<Q", 2) + b"{}")

write("npy", "f4_2d.npy", b"")
np.save(os.path.join(here, "npy", "f4_2d.npy"), x)
np.save(os.path.join(here, "npy", "f2_1d.npy"), x[0].astype("<f2"))
np.save(os.path.join(here, "npy", "i8_0d.npy"), np.int64(7))
np.save(os.path.join(here, "npy", "b1_3d.npy"), np.zeros((2, 1, 2), dtype=bool))

manifest = {"format": "fedguard-update-log", "version": 1, "info": {"writer": "seed"},
            "rounds": [{"round": 0, "file": "round_000000.safetensors", "n": 3, "d": 4, "bytes": 400},
                       {"round": 1, "file": "r1.npy", "client_ids": ["a", "b"], "num_samples": [1, 2.5],
                        "malicious": []}]}
write("manifest", "manifest.json", json.dumps(manifest, indent=1).encode())
write("manifest", "empty.json", b'{"format":"fedguard-update-log","version":1,"rounds":[]}')


# Policy configs (config_fuzz): the documented shapes, every slot, and near-misses.
CONFIGS = {
    "empty.json": {},
    "median.json": {"aggregator": {"rule": "median"}},
    "recommended.json": {"filters": [{"rule": "norm_bound", "max_ratio": 3.0}], "transforms": [{"rule": "nnm", "f": 2}],
                         "aggregator": {"rule": "trimmed_mean", "trim": 2}},
    "vote.json": {"filters": [{"rule": "dnc", "f": 2}, {"rule": "flame"}, {"rule": "signguard"}],
                  "combine": {"mode": "vote", "weights": [1, 2, 1], "min_votes": 2}, "aggregator": {"rule": "mean"}},
    "history.json": {"filters": [{"rule": "foolsgold"}, {"rule": "fldetector", "window": 4, "min_pairs": 2}],
                     "reputation": {"decay": 0.5}, "sketch_dim": 64, "aggregator": {"rule": "centered_clipping",
                                                                                  "tau": 1, "iterations": 2}},
    "gm.json": {"backend": "cpu", "precision": "fp32", "tile_columns": 64, "threads": 1, "duplicate_ids": "error",
                "reject_all_zero": True, "aggregator": {"rule": "geometric_median", "nu": 1e-6, "max_iter": 10}},
    "bulyan.json": {"transforms": [{"rule": "arc", "f": 1}, {"rule": "norm_clip", "max_norm": 2}],
                    "aggregator": {"rule": "bulyan", "f": 1}},
}


def write_configs():
    os.makedirs(os.path.join(here, "config"), exist_ok=True)
    for name, c in CONFIGS.items():
        write("config", name, json.dumps(c).encode())
    write("config", "duplicate_key.json", b'{"aggregator": {"rule": "mean"}, "aggregator": {"rule": "median"}}')
    write("config", "huge_count.json", b'{"aggregator": {"rule": "krum", "f": 18446744073709551615}}')


# State files (state_fuzz): version 4 (the count sketch, named in "sketch") with sketch_dim 4 and
# seed 7 (the target's settings), one with every section and one empty; and older versions (the
# dense sketch's): an empty version 3 file (loads), and version 3, 2 and 1 files holding sketches
# (refused: the sketch changed).
def state_file(header, payload=b""):
    text = json.dumps(header, separators=(",", ":")).encode()
    return b"FGSTATE1" + struct.pack("<Q", len(text)) + text + payload


def write_states():
    os.makedirs(os.path.join(here, "state"), exist_ok=True)
    sk = lambda *v: struct.pack("<4d", *v)  # noqa: E731
    full = {"version": 3, "sketch_dim": 4, "sketch_seed": 7, "model_dim": 3, "rounds": 5, "previous_aggregate": 3,
            "aggregate_sketches": 1,
            "clients": [{"id": "a", "rounds_seen": 2, "last_round": 4, "sketch": True, "last_sketch": True,
                         "reputation": 0.5, "suspicion": [0.1, 0.2]},
                        {"id": "b", "rounds_seen": 1, "last_round": 3, "sketch": True, "last_sketch": False,
                         "reputation": None, "suspicion": []}]}
    payload = struct.pack("<3f", 1.0, -2.0, 0.5) + sk(1, 2, 3, 4) + sk(0.5, 0, 0, 1) + sk(2, 2, 2, 2) + sk(-1, 0, 1, 0)
    write("state", "full_v3.fgs", state_file(full, payload))
    write("state", "full_v4.fgs", state_file({**full, "version": 4, "sketch": "count"}, payload))
    # A version 4 file with a followed pair (the history signal's twins test): its decayed
    # difference after the clients' sketches.
    pairs = {**full, "version": 4, "sketch": "count",
             "followed_pairs": [{"a": "a", "b": "b", "rounds": 3, "sums": [2.5, 2.71, 2.47, 7.0, 20.0]}]}
    write("state", "pairs_v4.fgs", state_file(pairs, payload + sk(0.5, -1, 0, 2)))
    write("state", "empty_v4.fgs", state_file({"version": 4, "sketch": "count", "sketch_dim": 4, "sketch_seed": 7,
                                               "model_dim": 0, "rounds": 0, "previous_aggregate": 0,
                                               "aggregate_sketches": 0, "clients": []}))
    write("state", "empty_v3.fgs", state_file({"version": 3, "sketch_dim": 4, "sketch_seed": 7, "model_dim": 0,
                                               "rounds": 0, "previous_aggregate": 0, "aggregate_sketches": 0,
                                               "clients": []}))
    v2 = {"version": 2, "sketch_dim": 4, "sketch_seed": 7, "rounds": 1, "previous_aggregate": 2, "aggregate_sketches": 0,
          "clients": [{"id": "c", "rounds_seen": 1, "last_round": 0, "sketch": True, "last_sketch": False,
                       "reputation": 1.0, "suspicion": []}]}
    write("state", "v2.fgs", state_file(v2, struct.pack("<2f", 3.0, 4.0) + sk(1, 1, 1, 1)))
    v1 = {"version": 1, "sketch_dim": 4, "sketch_seed": 7, "rounds": 1, "previous_aggregate": 0,
          "clients": [{"id": "d", "rounds_seen": 1, "last_round": 0}]}
    write("state", "v1.fgs", state_file(v1, sk(1, 0, 0, 0)))


if __name__ == "__main__":
    write_configs()
    write_states()
# The client registry (docs/formats.md): two fixed public keys (base64 of 32 bytes; any 32 bytes
# parse: the registry does not check that a key is a curve point).
registry = {"version": 1, "federation": "seed-fed", "max_clients": 4, "max_new_per_round": 2,
            "probation": {"rounds": 3, "max_share": 0.25},
            "clients": [{"id": "a", "public_key": "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", "status": "active",
                         "enrolled_round": 0},
                        {"id": "b", "public_key": "PUAXw+hDiVqStwqnTRt+vJyYLM8uxJaMwM1V8Sr0Zgw=", "status": "pending",
                         "enrolled_round": 5}]}
write("registry", "registry.json", json.dumps(registry, indent=1).encode())
write("registry", "minimal.json", b'{"version":1,"federation":"f","clients":[]}')
