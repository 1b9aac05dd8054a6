"""One round of a fedguard update log (safetensors: an 8-byte header length, the JSON header
with the round's metadata, then the n x d float32 updates), as float64 rows and a mask of the
clients the simulator made malicious."""
import json
import struct

import numpy as np


def load(path):
    with open(path, "rb") as f:
        header_len = struct.unpack("<Q", f.read(8))[0]
        meta = json.loads(f.read(header_len))["__metadata__"]
        x = np.frombuffer(f.read(), dtype=np.float32).reshape(int(meta["n"]), int(meta["d"]))
    malicious = set(json.loads(meta["malicious"]))
    return x.astype(np.float64), np.array([i in malicious for i in json.loads(meta["client_ids"])])
