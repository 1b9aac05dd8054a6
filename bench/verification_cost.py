"""What client verification adds to a round (docs/verification.md): a Krum round of n float32
updates of length d on the CPU backend, with and without a registry (every client signed,
SHA-256 of every update, Ed25519 verification), median of several repetitions.

    PYTHONPATH=build/python python3 bench/verification_cost.py [--reps 3] [--threads 0] \\
        [--shapes 100x1000000,1000x100000] [--out bench/results/verification_<date>.md]

Signing (the clients' work) is not timed. The verify stage's own time is the round's
timings_ms["verify"]; the round total is timings_ms["total"]. "On arrival": the server hashed
each update as it arrived (identity.update_digest, timed apart: it overlaps the transport) and
passes the digests (update_digests=...), so the stage only checks signatures.
"""

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import time

import numpy as np

import fedguard
from fedguard import identity


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def sha_ni():
    try:
        return "sha_ni" in open("/proc/cpuinfo").read()
    except OSError:
        return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--shapes", default="100x1000000,1000x100000")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    rows = []
    # single-thread SHA-256 throughput (libcrypto, as the verify stage calls it)
    buf = np.random.default_rng(0).integers(0, 255, size=256 << 20, dtype=np.uint8)
    t = time.perf_counter()
    identity._core._id_sha256(buf)
    sha_gbs = buf.nbytes / (time.perf_counter() - t) / 1e9
    del buf

    for shape in args.shapes.split(","):
        n, d = (int(v) for v in shape.split("x"))
        f = max(1, n // 10)
        policy = {"aggregator": {"rule": "krum", "f": f}, "backend": "cpu", "threads": args.threads}
        x = np.random.default_rng(1).normal(size=(n, d)).astype(np.float32)
        ids = [f"c{i}" for i in range(n)]
        keys = [identity.generate_key_pair() for _ in ids]
        reg = identity.Registry("bench")
        for cid, (_, pk) in zip(ids, keys):
            reg.add(cid, pk)
        plain = fedguard.Engine(policy)
        verified = fedguard.Engine(policy, registry=reg)
        plain.process_round(x, client_ids=ids)  # warm-up (pages, threads)
        base, with_v, stage, arrival_stage, arrival_total, hashing = [], [], [], [], [], []
        for rep in range(args.reps):
            r = plain.process_round(x, client_ids=ids)
            base.append(r.timings_ms["total"])
            nonce = identity.new_nonce()
            sigs = [identity.sign_update(sk, "bench", cid, 2 * rep + 1, nonce, x[i])
                    for i, (cid, (sk, _)) in enumerate(zip(ids, keys))]
            r = verified.process_round(x, client_ids=ids, signatures=sigs, round=2 * rep + 1, nonce=nonce)
            assert r.verification["verified"] == n
            with_v.append(r.timings_ms["total"])
            stage.append(r.timings_ms["verify"])
            nonce = identity.new_nonce()
            sigs = [identity.sign_update(sk, "bench", cid, 2 * rep + 2, nonce, x[i])
                    for i, (cid, (sk, _)) in enumerate(zip(ids, keys))]
            t = time.perf_counter()
            digests = [identity.update_digest(x[i]) for i in range(n)]  # what the receive path does
            hashing.append((time.perf_counter() - t) * 1e3)
            r = verified.process_round(x, client_ids=ids, signatures=sigs, round=2 * rep + 2, nonce=nonce,
                                       update_digests=digests)
            assert r.verification["verified"] == n
            arrival_total.append(r.timings_ms["total"])
            arrival_stage.append(r.timings_ms["verify"])
        b, v, s = statistics.median(base), statistics.median(with_v), statistics.median(stage)
        va, sa, h = statistics.median(arrival_total), statistics.median(arrival_stage), statistics.median(hashing)
        rows.append((n, d, f, b, v, s, 100 * s / b, x.nbytes / (s / 1e3) / 1e9, va, sa, 100 * sa / b, h))
        print(f"n={n} d={d}: krum {b:.1f} ms, with verification {v:.1f} ms, verify stage {s:.1f} ms "
              f"(+{100 * s / b:.1f}%), {x.nbytes / (s / 1e3) / 1e9:.2f} GB/s hashed; digests on arrival: "
              f"round {va:.1f} ms, stage {sa:.1f} ms (+{100 * sa / b:.1f}%), hashing on arrival {h:.1f} ms "
              f"(one thread)", flush=True)
        del x, plain, verified

    threads = args.threads or os.cpu_count()
    head = (f"# Client verification cost, {datetime.date.today().isoformat()}\n\n"
            f"Machine: {cpu_name()}, {os.cpu_count()} cores visible (shared with other builds: "
            f"timings are noisy), SHA-NI {'yes' if sha_ni() else 'no'}, {platform.platform()}; "
            f"fedguard {fedguard.__version__}, OpenSSL libcrypto (EVP_Digest SHA-256, EVP_DigestVerify "
            f"Ed25519). Threads: {threads}.\n\n"
            f"Command: `PYTHONPATH=build/python python3 bench/verification_cost.py --reps {args.reps} "
            f"--shapes {args.shapes}`\n\n"
            f"Single-thread SHA-256: {sha_gbs:.2f} GB/s.\n\n"
            "| n | d | Krum f | Krum round (ms) | with verification (ms) | verify stage (ms) | added | hashed GB/s "
            "| digests on arrival: round (ms) | stage (ms) | added | hashing on arrival, one thread (ms) |\n"
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
    body = "".join(f"| {n} | {d} | {f} | {b:.1f} | {v:.1f} | {s:.1f} | +{p:.1f}% | {g:.2f} | {va:.1f} | {sa:.1f} "
                   f"| +{pa:.1f}% | {h:.1f} |\n"
                   for n, d, f, b, v, s, p, g, va, sa, pa, h in rows)
    text = head + body
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
