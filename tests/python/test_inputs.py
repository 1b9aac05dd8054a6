"""Every accepted form of `updates` gives the same round as a plain float32 block; bad inputs
raise the right exception with a clear message."""

import numpy as np
import pytest

import fedguard
from conftest import make_updates, real_cuda_backend
from dlpack_helpers import (
    KDL_BFLOAT,
    KDL_CUDA,
    KDL_CUDA_HOST,
    KDL_VULKAN,
    DLPackArray,
    ForeignArray,
    LegacyDLPackArray,
    bfloat16_bits,
    bfloat16_to_float32,
)

POLICY = {"filters": [{"rule": "norm_bound", "max_ratio": 3.0}], "aggregator": {"rule": "multi_krum", "f": 2}}


def run(updates, policy=POLICY, **kwargs):
    return fedguard.Engine(policy).process_round(updates, **kwargs)


def assert_same_round(a, b):
    np.testing.assert_array_equal(a.accepted, b.accepted)
    np.testing.assert_array_equal(a.weights, b.weights)
    np.testing.assert_array_equal(a.aggregate, b.aggregate)
    assert a.reasons == b.reasons
    assert a.scores.keys() == b.scores.keys()
    for k in a.scores:
        np.testing.assert_array_equal(a.scores[k], b.scores[k])


@pytest.fixture
def x():
    return make_updates(n=14, d=257, attackers=2)


def test_float16_block_equals_its_float32_values(x):
    h = x.astype(np.float16)
    assert_same_round(run(h), run(h.astype(np.float32)))
    assert fedguard.describe_updates(h)["dtype"] == "float16"


def test_bfloat16_through_dlpack_equals_its_float32_values(x):
    bits = bfloat16_bits(x)
    producer = DLPackArray(bits, code=KDL_BFLOAT, bits=16)
    assert fedguard.describe_updates(producer)["dtype"] == "bfloat16"
    assert_same_round(run(producer), run(bfloat16_to_float32(bits)))
    assert producer.deleted == producer.exported == 2  # every consumed capsule was released


def test_bfloat16_numpy_array_from_ml_dtypes(x):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    b = x.astype(ml_dtypes.bfloat16)
    assert fedguard.describe_updates(b)["dtype"] == "bfloat16"
    assert_same_round(run(b), run(b.astype(np.float32)))


def test_list_of_client_arrays_equals_the_block(x):
    as_list = [row.copy() for row in x]
    assert_same_round(run(as_list), run(x))
    assert_same_round(run(tuple(as_list)), run(x))
    info = fedguard.describe_updates(as_list)
    assert info["block"] is False and info["copied"] is False and info["source"] == "list"
    # clients given in any shape are flattened (C order) without a copy
    assert_same_round(run([row.reshape(1, 257) for row in x]), run(x))


def test_per_layer_lists_are_flattened_in_order(x):
    cuts = [0, 10, 100, 257]
    layered = [[row[a:b].copy() for a, b in zip(cuts, cuts[1:])] for row in x]
    layered = [[layers[0], layers[1].reshape(9, 10), layers[2]] for layers in layered]
    assert_same_round(run(layered), run(x))
    info = fedguard.describe_updates(layered)
    assert info["copied"] is True and info["d"] == 257
    # layers that are adjacent views of one buffer are used in place
    in_place = [[row[a:b] for a, b in zip(cuts, cuts[1:])] for row in x]
    info = fedguard.describe_updates(in_place)
    assert info["copied"] is False
    assert [r[0] for r in info["rows"]] == [row.ctypes.data for row in x]
    # layers of different dtypes are concatenated as float32
    mixed = [[row[:10].astype(np.float16), row[10:]] for row in x]
    expected = np.concatenate([x[:, :10].astype(np.float16).astype(np.float32), x[:, 10:]], axis=1)
    assert_same_round(run(mixed), run(expected))


def test_row_strided_views_are_used_in_place(x):
    wide = np.zeros((14, 300), np.float32)
    wide[:, :257] = x
    view = wide[:, :257]
    info = fedguard.describe_updates(view)
    assert info["block"] is True and info["row_stride"] == 300 and info["copied"] is False
    assert info["rows"][0][0] == wide.ctypes.data
    assert_same_round(run(view), run(x))
    every_other = x[::2]
    assert fedguard.describe_updates(every_other)["row_stride"] == 2 * 257
    assert_same_round(run(every_other, POLICY_SMALL), run(np.ascontiguousarray(every_other), POLICY_SMALL))


POLICY_SMALL = {"aggregator": {"rule": "median"}}


def test_reversed_and_broadcast_rows_use_one_pointer_per_row(x):
    reversed_rows = x[::-1]
    info = fedguard.describe_updates(reversed_rows)
    assert info["block"] is False and info["copied"] is False
    assert info["rows"][0][0] == x[-1].ctypes.data
    assert_same_round(run(reversed_rows), run(np.ascontiguousarray(reversed_rows)))
    same = np.broadcast_to(x[3], (5, 257))
    r = run(same, POLICY_SMALL)
    np.testing.assert_array_equal(r.aggregate, x[3])


def test_read_only_and_memory_mapped_arrays(x, tmp_path):
    ro = x.copy()
    ro.flags.writeable = False
    assert_same_round(run(ro), run(x))
    np.save(tmp_path / "u.npy", x)
    mapped = np.load(tmp_path / "u.npy", mmap_mode="r")
    assert_same_round(run(mapped), run(x))


def test_dlpack_producers_are_used_in_place(x):
    foreign = ForeignArray(x)  # numpy's own __dlpack__ (versioned capsule with numpy >= 2.1)
    info = fedguard.describe_updates(foreign)
    assert info["source"] == "dlpack" and info["rows"][0][0] == x.ctypes.data and info["copied"] is False
    assert_same_round(run(foreign), run(x))
    for producer in (DLPackArray(x), DLPackArray(x, versioned=False), LegacyDLPackArray(x),
                     DLPackArray(x, device_type=KDL_CUDA_HOST)):
        assert fedguard.describe_updates(producer)["rows"][5][0] == x[5].ctypes.data
        assert_same_round(run(producer), run(x))
        assert producer.deleted == producer.exported
    rows = [DLPackArray(row) for row in x]
    assert_same_round(run(rows), run(x))
    assert all(p.deleted == 1 for p in rows)


def test_dlpack_strides_none_and_row_strides(x):
    wide = np.zeros((14, 300), np.float32)
    wide[:, :257] = x
    producer = DLPackArray(wide[:, :257], strides=[300, 1])
    assert fedguard.describe_updates(producer)["row_stride"] == 300
    assert_same_round(run(producer), run(x))


def test_cuda_memory_is_refused_by_the_cpu_backend(x):
    if real_cuda_backend():
        pytest.skip("this build has a CUDA backend: a fake CUDA pointer would reach it")
    producer = DLPackArray(x, device_type=KDL_CUDA, device_id=1)
    assert fedguard.describe_updates(producer)["device"] == "cuda:1"
    with pytest.raises(NotImplementedError) as info:
        run(producer)
    assert isinstance(info.value, fedguard.UnsupportedError)
    assert str(info.value) == "updates are in CUDA memory but the backend is cpu"
    assert producer.deleted == producer.exported
    with pytest.raises(ValueError, match="client 1 is on cpu but client 0 is on cuda:0"):
        run([DLPackArray(x[0], device_type=KDL_CUDA), x[1]])
    with pytest.raises(NotImplementedError, match="per-layer lists are concatenated on the host"):
        run([[DLPackArray(x[0], device_type=KDL_CUDA)]])


@pytest.mark.parametrize(
    "bad, message",
    [
        (lambda x: x[0], r"updates must be a 2-D array \(n clients x d parameters\) or a list of per-client "
                         r"arrays, got a 1-D array of shape \(257,\)"),
        (lambda x: x[None], "got a 3-D array of shape"),
        (lambda x: x.astype(np.float64), "updates: dtype float64 is not supported"),
        (lambda x: x.astype(np.int32), "updates: dtype int32 is not supported"),
        (lambda x: x.astype(">f4"), r"dtype float32 \(non-native byte order\) is not supported"),
        (lambda x: x[:, ::2], "updates must be contiguous along the parameter axis .* got stride 2"),
        (lambda x: np.asfortranarray(x), "updates must be contiguous along the parameter axis .* got stride 14"),
        (lambda x: [x[0], x[1].astype(np.float64)], "client 1: dtype float64 is not supported"),
        (lambda x: [x[0], x[1][::2]], r"client 1: update of shape \(129,\) is not contiguous"),
        (lambda x: [[x[0][:5], [x[0][5:]]]], "client 0, layer 1: expected an array, got a nested list"),
        (lambda x: [[1.0, 2.0]], "expected an array, got a Python number"),
        (lambda x: [], r"round has no updates \(n = 0\)"),
        (lambda x: x[:0], r"round has no updates \(n = 0\)"),
        (lambda x: DLPackArray(x, code=KDL_BFLOAT, bits=32), "updates: dtype bfloat32 is not supported"),
        (lambda x: DLPackArray(x, device_type=KDL_VULKAN), "DLPack device type 7 is not supported"),
        (lambda x: DLPackArray(x, version=(2, 0)), r"DLPack version 2.0 is not supported"),
    ],
)
def test_bad_inputs_raise_value_error(x, bad, message):
    with pytest.raises(ValueError, match=message):
        run(bad(x))


def test_dlpack_capsule_released_on_error(x):
    producer = DLPackArray(x, version=(2, 0))
    with pytest.raises(ValueError):
        run(producer)
    assert producer.deleted == producer.exported == 1


def test_clients_that_disagree_are_rejected_not_fatal(x):
    clients = [row for row in x]
    clients[4] = x[4][:200]
    clients[6] = x[6].astype(np.float16)
    r = run(clients, {"aggregator": {"rule": "median"}})
    assert r.reasons[4] == "wrong_length: 200 elements, the round's d is 257"
    assert r.reasons[6] == "wrong_dtype: float16, the round's dtype is float32"
    expected = run(np.delete(x, [4, 6], axis=0), {"aggregator": {"rule": "median"}})
    np.testing.assert_array_equal(r.aggregate, expected.aggregate)
    # d is what most clients have, unless given
    short = [row[:200] for row in x[:3]] + list(x[3:])
    assert run(short, {"aggregator": {"rule": "median"}}).d == 257
    r = run(short, {"aggregator": {"rule": "median"}}, expected_length=200)
    assert r.d == 200 and r.accepted.sum() == 3
    with pytest.raises(ValueError, match="expected updates of length 100, got a block of d=257"):
        run(x, expected_length=100)


def test_empty_layer_list_is_a_wrong_length_client(x):
    r = run([x[0], [], *x[2:]], {"aggregator": {"rule": "median"}})
    assert r.reasons == {1: "wrong_length: 0 elements, the round's d is 257"}


# --- torch (skipped where torch is not installed: it is not a CI dependency) ----------------


@pytest.mark.parametrize("dtype_name", ["float32", "float16", "bfloat16"])
def test_torch_cpu_tensors(torch, x, dtype_name):
    dtype = getattr(torch, dtype_name)
    t = torch.from_numpy(x).to(dtype)
    reference = t.to(torch.float32).numpy()
    r = run(t)
    assert isinstance(r.aggregate, torch.Tensor) and r.aggregate.device.type == "cpu"
    assert r.aggregate.dtype == torch.float32
    assert_same_round_values(r, run(reference))
    assert fedguard.describe_updates(t)["rows"][0][0] == t.data_ptr()
    rows = [row for row in t]
    assert [p for p, _, _ in fedguard.describe_updates(rows)["rows"]] == [row.data_ptr() for row in rows]
    assert_same_round_values(run(rows), run(reference))


def assert_same_round_values(a, b):
    np.testing.assert_array_equal(a.accepted, b.accepted)
    np.testing.assert_array_equal(np.asarray(a.aggregate), np.asarray(b.aggregate))


def test_torch_requires_grad_and_model_parameters(torch, x):
    t = torch.from_numpy(x).requires_grad_(True)
    assert_same_round_values(run(t), run(x))
    models = [torch.nn.Linear(4, 3) for _ in range(6)]
    layered = [list(m.parameters()) for m in models]
    flat = np.stack([np.concatenate([p.detach().numpy().ravel() for p in m.parameters()]) for m in models])
    r = run(layered, {"aggregator": {"rule": "median"}})
    np.testing.assert_array_equal(r.aggregate.numpy(), run(flat, {"aggregator": {"rule": "median"}}).aggregate)


@pytest.mark.gpu
def test_torch_cuda_tensors(torch, x):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    t = torch.from_numpy(x).cuda()
    info = fedguard.describe_updates(t)
    assert info["device"] == f"cuda:{t.device.index}" and info["rows"][0][0] == t.data_ptr()
    if not real_cuda_backend():
        with pytest.raises(NotImplementedError, match="updates are in CUDA memory but the backend is cpu"):
            run(t)
        return
    r = run(t)
    assert r.aggregate.device == t.device
    assert_same_round_values(r, run(x))
