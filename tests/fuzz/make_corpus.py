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
