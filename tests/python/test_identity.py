"""Client verification from Python and the command line (docs/verification.md): signatures made
by independent Ed25519 libraries (PyNaCl, cryptography) verify in fedguard and the other way
round; the message matches the contract rebuilt here from its description; every rejection
reason; malformed registry / signature file / key / nonce; failed rounds change nothing."""

import hashlib
import json
import os
import struct
import subprocess

import numpy as np
import pytest

import fedguard
from fedguard import identity

nacl_signing = pytest.importorskip("nacl.signing", reason="PyNaCl is not installed (scripts/bootstrap.sh)")
ed25519 = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ed25519")

FED = "fl-test"


def contract_message(federation, client, rnd, nonce, dtype, d, data: bytes) -> bytes:
    """docs/formats.md, "Signed updates", written out independently of fedguard."""
    return (b"fedguard/update/v1\0" + federation.encode() + b"\0" + client.encode() + b"\0" +
            struct.pack("<Q", rnd) + nonce + dtype.encode() + b"\0" + struct.pack("<Q", d) +
            hashlib.sha256(data).digest())


def nacl_sign(seed: bytes, client, rnd, nonce, x: np.ndarray) -> bytes:
    msg = contract_message(FED, client, rnd, nonce, x.dtype.name, x.size, np.ascontiguousarray(x).tobytes())
    return nacl_signing.SigningKey(seed).sign(msg).signature


@pytest.fixture
def federation():
    rng = np.random.default_rng(3)
    keys = {f"c{i}": identity.generate_key_pair() for i in range(8)}
    reg = identity.Registry(FED)
    for cid, (_, pk) in keys.items():
        reg.add(cid, pk)
    x = rng.normal(size=(8, 257)).astype(np.float32)
    return reg, keys, x


def test_message_matches_the_contract():
    nonce = bytes(range(32))
    for x in (np.linspace(-1, 1, 7, dtype=np.float32), np.arange(5, dtype=np.float16)):
        want = contract_message(FED, "client-é", 2**40 + 3, nonce, x.dtype.name, x.size, x.tobytes())
        assert identity.update_message(FED, "client-é", 2**40 + 3, nonce, x) == want


def test_bfloat16_message():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    x = np.arange(6, dtype=np.float32).astype(ml_dtypes.bfloat16)
    want = contract_message(FED, "c", 1, bytes(32), "bfloat16", 6, x.tobytes())
    assert identity.update_message(FED, "c", 1, bytes(32), x) == want


def test_fedguard_signatures_verify_in_pynacl_and_cryptography():
    sk, pk = identity.generate_key_pair()
    assert identity.public_key_of(sk) == pk
    assert nacl_signing.SigningKey(sk).verify_key.encode() == pk
    nonce = identity.new_nonce()
    x = np.random.default_rng(0).normal(size=1000).astype(np.float32)
    sig = identity.sign_update(sk, FED, "c1", 9, nonce, x)
    msg = contract_message(FED, "c1", 9, nonce, "float32", 1000, x.tobytes())
    nacl_signing.VerifyKey(pk).verify(msg, sig)  # raises on failure
    ed25519.Ed25519PublicKey.from_public_bytes(pk).verify(sig, msg)
    assert identity.verify_signature(pk, msg, sig)


def test_independent_signatures_verify_in_fedguard(federation):
    reg, keys, x = federation
    nonce = identity.new_nonce()
    ids = list(keys)
    sigs = {}
    for i, cid in enumerate(ids):
        seed = keys[cid][0]
        if i % 2:  # half PyNaCl, half cryptography
            sigs[cid] = nacl_sign(seed, cid, 4, nonce, x[i])
        else:
            msg = contract_message(FED, cid, 4, nonce, "float32", x.shape[1], x[i].tobytes())
            sigs[cid] = ed25519.Ed25519PrivateKey.from_private_bytes(seed).sign(msg)
    engine = fedguard.Engine({"aggregator": {"rule": "mean"}}, registry=reg)
    r = engine.process_round(x, client_ids=ids, signatures=sigs, round=4, nonce=nonce)
    assert r.reasons == {}
    assert r.accepted.all()
    assert r.verification["verified"] == 8
    np.testing.assert_allclose(r.aggregate, x.astype(np.float64).mean(axis=0), atol=1e-6)


def test_every_rejection_reason(federation):
    reg, keys, x = federation
    reg.add("late", identity.generate_key_pair()[1], pending=True)
    reg.revoke("c3")
    engine = fedguard.Engine({"aggregator": {"rule": "mean"}}, registry=reg)
    ids = list(keys)
    n1, n2 = identity.new_nonce(), identity.new_nonce()
    first = [identity.sign_update(keys[c][0], FED, c, 1, n1, x[i]) for i, c in enumerate(ids)]
    engine.process_round(x, client_ids=ids, signatures=first, round=1, nonce=n1)

    sigs = [identity.sign_update(keys[c][0], FED, c, 2, n2, x[i]) for i, c in enumerate(ids)]
    ids2 = list(ids)
    ids2[1] = "stranger"                       # unknown_client
    sigs[2] = None                             # missing_signature
    ids2[4] = "late"                           # revoked_client (pending)
    sigs[5] = first[5]                         # stale_round
    sigs[6] = sigs[6][:63]                     # bad_signature (63 bytes)
    x2 = x.copy()
    x2.view(np.uint8)[7, 100] ^= 0x10          # bad_signature (one bit)
    r = engine.process_round(x2, client_ids=ids2, signatures=sigs, round=2, nonce=n2)
    codes = {i: text.split(":")[0] for i, text in r.reasons.items()}
    assert codes == {1: "unknown_client", 2: "missing_signature", 3: "revoked_client", 4: "revoked_client",
                     5: "stale_round", 6: "bad_signature", 7: "bad_signature"}
    assert list(r.accepted) == [True] + [False] * 7
    np.testing.assert_allclose(r.aggregate, x[0], atol=0)

    # replayed: the same round again (fresh nonce) for a client that already has an update in it
    n3 = identity.new_nonce()
    again = [identity.sign_update(keys["c0"][0], FED, "c0", 2, n3, x[0]),
             identity.sign_update(keys["c1"][0], FED, "c1", 2, n3, x[1])]
    r = engine.process_round(x[:2], client_ids=["c0", "c1"], signatures=again, round=2, nonce=n3)
    assert r.reasons[0].startswith("replayed") and r.accepted[1]


def test_digests_computed_on_arrival(federation):
    """update_digest is hashlib's SHA-256 of the bytes as sent; passed as update_digests the
    round verifies without hashing and aggregates the same; a wrong digest is that client's
    bad_signature; a wrong count fails the round and changes nothing."""
    reg, keys, x = federation
    ids = list(keys)
    assert identity.update_digest(x[3]) == hashlib.sha256(x[3].tobytes()).digest()
    nonce = identity.new_nonce()
    sigs = [identity.sign_update(keys[c][0], FED, c, 1, nonce, x[i]) for i, c in enumerate(ids)]
    digests = [identity.update_digest(x[i]) for i in range(len(ids))]
    plain = fedguard.Engine({"aggregator": {"rule": "mean"}}, registry=reg)
    want = plain.process_round(x, client_ids=ids, signatures=sigs, round=1, nonce=nonce)
    given = fedguard.Engine({"aggregator": {"rule": "mean"}}, registry=reg)
    got = given.process_round(x, client_ids=ids, signatures=sigs, round=1, nonce=nonce, update_digests=digests)
    np.testing.assert_array_equal(got.aggregate, want.aggregate)
    assert got.verification["verified"] == len(ids)
    wrong = list(digests)
    wrong[4] = hashlib.sha256(b"something else").digest()
    other = fedguard.Engine({"aggregator": {"rule": "mean"}}, registry=reg)
    r = other.process_round(x, client_ids=ids, signatures=sigs, round=1, nonce=nonce, update_digests=wrong)
    assert r.rejected_ids == [ids[4]] and r.rejections_by_id[ids[4]]["code"] == "bad_signature"
    short = fedguard.Engine({"aggregator": {"rule": "mean"}}, registry=reg)
    with pytest.raises(ValueError, match="update digests"):
        short.process_round(x, client_ids=ids, signatures=sigs, round=1, nonce=nonce, update_digests=digests[:3])
    assert short.rounds_processed == 0


def test_one_bit_flipped_anywhere(federation):
    reg, keys, x = federation
    engine = fedguard.Engine({"aggregator": {"rule": "mean"}}, registry=reg)
    nonce = identity.new_nonce()
    ids = list(keys)
    sigs = [identity.sign_update(keys[c][0], FED, c, 1, nonce, x[i]) for i, c in enumerate(ids)]
    rng = np.random.default_rng(1)
    nbytes = x.shape[1] * 4
    positions = [0, nbytes - 1] + list(rng.integers(0, nbytes, size=6))
    x2 = x.copy()
    for row, pos in enumerate(positions):  # one flipped bit in each row, at a different place
        x2.view(np.uint8)[row, pos] ^= np.uint8(1 << (row % 8))
    r = engine.process_round(np.vstack([x, x2]), client_ids=ids + ids, signatures=sigs + sigs, round=1,
                             nonce=nonce)
    assert r.accepted[:8].all()
    assert all(r.reasons[8 + i].startswith("bad_signature") for i in range(8))


def test_failed_round_changes_no_state_and_no_registry(federation, tmp_path):
    reg, keys, x = federation
    reg_path = tmp_path / "R.json"
    reg.save(str(reg_path))
    engine = fedguard.Engine({"aggregator": {"rule": "mean"}}, registry=str(reg_path))
    ids = list(keys)
    n1 = identity.new_nonce()
    engine.process_round(x, client_ids=ids, round=1, nonce=n1,
                         signatures=[identity.sign_update(keys[c][0], FED, c, 1, n1, x[i]) for i, c in enumerate(ids)])
    engine.save_state(str(tmp_path / "a.state"))
    registry_before = reg_path.read_bytes()
    bad = [
        dict(signatures=None, round=2, nonce=identity.new_nonce()),    # every signature missing
        dict(signatures=[b"\0" * 64] * 8, round=2, nonce=n1),          # the previous round's nonce
        dict(signatures=[b"\0" * 64] * 8, round=2, nonce=bytes(32)),   # all-zero nonce
    ]
    for kw in bad:
        with pytest.raises(ValueError):
            engine.process_round(x, client_ids=ids, **kw)
    with pytest.raises(ValueError):
        engine.process_round(x, client_ids=ids, signatures=[None] * 8, round=2, nonce=b"short")
    with pytest.raises(ValueError):
        engine.process_round(x, client_ids=ids, signatures=[None] * 8, round=2, nonce="zz" * 32)
    engine.save_state(str(tmp_path / "b.state"))
    assert (tmp_path / "a.state").read_bytes() == (tmp_path / "b.state").read_bytes()
    assert reg_path.read_bytes() == registry_before
    assert engine.rounds_processed == 1


def test_registry_validation(tmp_path):
    _, pk = identity.generate_key_pair()
    reg = identity.Registry(FED, max_clients=1)
    reg.add("a", pk)
    with pytest.raises(ValueError, match="already registered"):
        reg.add("b", pk)
    with pytest.raises(ValueError, match="max_clients"):
        reg.add("b", identity.generate_key_pair()[1])
    with pytest.raises(ValueError, match="32"):
        reg.add("c", b"\1" * 31)
    with pytest.raises(ValueError, match="base64"):
        reg.add("c", "not base64!")
    path = tmp_path / "R.json"
    reg.save(str(path))
    assert identity.Registry.load(str(path)).to_dict() == reg.to_dict()
    doc = reg.to_dict()
    doc["clients"].append(dict(doc["clients"][0], id="twin"))
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"R.json: clients\[1\] \(id 'twin'\): public key is listed twice"):
        identity.Registry.load(str(path))
    path.write_text("{\"version\": 1,")
    with pytest.raises(OSError, match="R.json: offset"):
        identity.Registry.load(str(path))
    with pytest.raises(ValueError):
        identity.b64decode("Zh==")
    with pytest.raises(ValueError):
        identity.nonce_from_hex("00" * 31)


def run(cli, *args):
    return subprocess.run([cli, *map(str, args)], capture_output=True, text=True)


def test_cli_keys_and_verified_round(cli, tmp_path):
    ids = ["a", "b", "c", "d"]
    reg = tmp_path / "R.json"
    for cid in ids:
        assert run(cli, "keys", "generate", "--out-dir", tmp_path, "--id", cid).returncode == 0
        assert oct(os.stat(tmp_path / f"{cid}.key").st_mode & 0o777) == "0o600"
        pub = (tmp_path / f"{cid}.pub").read_text().strip()
        r = run(cli, "keys", "register", "--registry", reg, "--federation", FED, "--id", cid, "--public-key", pub)
        assert r.returncode == 0, r.stderr
    assert run(cli, "keys", "generate", "--out-dir", tmp_path, "--id", "a").returncode == 3  # never overwrites
    assert run(cli, "keys", "revoke", "--registry", reg, "--id", "d").returncode == 0
    listing = run(cli, "keys", "list", "--registry", reg).stdout
    assert "d\trevoked" in listing and "a\tactive" in listing

    x = np.random.default_rng(5).normal(size=(4, 64)).astype(np.float32)
    np.save(tmp_path / "U.npy", x)
    (tmp_path / "ids.txt").write_text("\n".join(ids) + "\n")
    (tmp_path / "C.json").write_text(json.dumps({"aggregator": {"rule": "mean"}}))
    nonce = identity.new_nonce()
    seeds = {c: identity.b64decode((tmp_path / f"{c}.key").read_text().strip()) for c in ids}
    sigs = {c: identity.b64encode(nacl_sign(seeds[c], c, 7, nonce, x[i])) for i, c in enumerate(ids)}
    sigs["b"] = sigs["c"]  # b sends c's signature
    (tmp_path / "S.json").write_text(json.dumps(sigs))
    base = ["round", "--updates", tmp_path / "U.npy", "--ids", tmp_path / "ids.txt", "--config", tmp_path / "C.json",
            "--registry", reg, "--signatures", tmp_path / "S.json", "--round", 7]
    r = run(cli, *base, "--nonce", nonce.hex(), "--state", tmp_path / "s.state")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["accepted"] == [True, False, True, False]
    assert out["reasons"]["1"].startswith("bad_signature")
    assert out["reasons"]["3"].startswith("revoked_client")
    assert out["verification"]["round"] == 7 and out["verification"]["nonce"] == nonce.hex()
    # the same round again, validly signed with a new nonce: replayed for a and c (the state
    # file remembers), b's still forged, d revoked: nothing left, the round fails
    n2 = identity.new_nonce()
    again = {c: identity.b64encode(nacl_sign(seeds[c], c, 7, n2, x[i])) for i, c in enumerate(ids)}
    again["b"] = again["c"]
    (tmp_path / "S.json").write_text(json.dumps(again))
    state_before = (tmp_path / "s.state").read_bytes()
    r = run(cli, *base, "--nonce", n2.hex(), "--state", tmp_path / "s.state")
    assert r.returncode == 2 and "replayed 2" in r.stderr, r.stderr
    assert (tmp_path / "s.state").read_bytes() == state_before

    # malformed inputs: exit code 2 (invalid) or 3 (file), a message naming the problem
    assert run(cli, *base, "--nonce", "00" * 31).returncode == 2
    assert run(cli, *base, "--nonce", "g" * 64).returncode == 2
    assert run(cli, *base[:-2], "--nonce", nonce.hex()).returncode == 2  # --registry without --round
    (tmp_path / "S.json").write_text("{\"a\": ")
    r = run(cli, *base, "--nonce", nonce.hex())
    assert r.returncode == 3 and "S.json: offset" in r.stderr
    (tmp_path / "S.json").write_text(json.dumps({"a": 5}))
    r = run(cli, *base, "--nonce", nonce.hex())
    assert r.returncode == 2 and "client 'a'" in r.stderr
    r = run(cli, "keys", "register", "--registry", reg, "--federation", FED, "--id", "e", "--public-key", "AAAA")
    assert r.returncode == 2 and "3 bytes" in r.stderr


def test_mpaf_fake_clients_rejected_or_bounded():
    """MPAF (Cao & Gong 2022) at the round level: fake ids without keys are all rejected
    (unknown_client); registered-but-new fake ids (keys obtained by enrolling) pass
    verification, are capped by max_new_per_round, and on probation hold at most max_share of
    a mean's weight, so the aggregate moves at most max_share of the way towards their update."""
    rng = np.random.default_rng(11)
    d, n_benign, k = 500, 10, 6
    global_model = rng.normal(size=d).astype(np.float32)
    benign = (0.01 * rng.normal(size=(n_benign, d))).astype(np.float32)
    fakes, _ = fedguard.attack("mpaf", benign, k, global_model=global_model, **{"lambda": 10.0})
    fakes = np.asarray(fakes, dtype=np.float32)  # every fake sends the same update
    reg = identity.Registry(FED, probation_rounds=5, probation_max_share=0.1)  # enrollment cap: below
    keys = {f"b{i}": identity.generate_key_pair() for i in range(n_benign)}
    for cid, (_, pk) in keys.items():
        reg.add(cid, pk)
    engine = fedguard.Engine({"aggregator": {"rule": "mean"}}, registry=reg)

    def signed(ids, x, rnd, nonce, keyring):
        return [identity.sign_update(keyring[c][0], FED, c, rnd, nonce, x[i]) if c in keyring else None
                for i, c in enumerate(ids)]

    for rnd in (1, 2):  # the benign clients become established (first seen in round 1)
        nonce = identity.new_nonce()
        engine.process_round(benign, client_ids=list(keys), round=rnd, nonce=nonce,
                             signatures=signed(list(keys), benign, rnd, nonce, keys))
    # Round 10, no keys: every fake is rejected, the aggregate is the benign mean exactly.
    fake_ids = [f"fake{i}" for i in range(k)]
    x = np.vstack([benign, fakes])
    ids = list(keys) + fake_ids
    nonce = identity.new_nonce()
    forged = signed(ids, x, 10, nonce, keys)[:n_benign] + [b"\1" * 64] * k  # any signature
    r = engine.process_round(x, client_ids=ids, signatures=forged, round=10, nonce=nonce)
    assert all(r.reasons[n_benign + i].startswith("unknown_client") for i in range(k))
    np.testing.assert_allclose(r.aggregate, benign.astype(np.float64).mean(axis=0), atol=1e-6)
    # Round 11, the fakes registered (new keys): 4 admitted (max_new_per_round), 2 capped; the 4
    # on probation hold 10% of the weight.
    fake_keys = {c: identity.generate_key_pair() for c in fake_ids}
    for c, (_, pk) in fake_keys.items():
        reg.add(c, pk)
    doc = reg.to_dict()
    doc["max_new_per_round"] = 4
    engine.set_registry(identity.Registry.from_json(json.dumps(doc)))
    nonce = identity.new_nonce()
    r = engine.process_round(x, client_ids=ids, round=11, nonce=nonce,
                             signatures=signed(ids, x, 11, nonce, {**keys, **fake_keys}))
    assert [r.reasons.get(n_benign + i, "ok").split(":")[0] for i in range(k)] == ["ok"] * 4 + ["enrollment_cap"] * 2
    assert r.verification["burst"] and r.verification["on_probation"] == 4
    assert abs(sum(r.weights[n_benign:]) - 0.1) < 1e-12
    want = 0.9 * benign.astype(np.float64).mean(axis=0) + 0.1 * fakes[0].astype(np.float64)
    np.testing.assert_allclose(r.aggregate, want, rtol=1e-5, atol=1e-4)
