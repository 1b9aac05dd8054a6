"""DLPack producers for the tests, built with ctypes over numpy buffers.

They let the tests exercise fedguard's DLPack consumer without torch: any dtype code (bfloat16),
any device type (a CUDA claim over host memory, to check that the engine refuses it before
reading), the legacy and the versioned (DLPack 1.0) capsule, and a count of deleter calls.
"""

import ctypes

import numpy as np

c_int32, c_int64, c_uint8, c_uint16, c_uint32, c_uint64, c_void_p = (
    ctypes.c_int32,
    ctypes.c_int64,
    ctypes.c_uint8,
    ctypes.c_uint16,
    ctypes.c_uint32,
    ctypes.c_uint64,
    ctypes.c_void_p,
)

KDL_CPU, KDL_CUDA, KDL_CUDA_HOST, KDL_VULKAN = 1, 2, 3, 7
KDL_INT, KDL_UINT, KDL_FLOAT, KDL_BFLOAT = 0, 1, 2, 4


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", c_int32), ("device_id", c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", c_uint8), ("bits", c_uint8), ("lanes", c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", c_void_p),
        ("device", DLDevice),
        ("ndim", c_int32),
        ("dtype", DLDataType),
        ("shape", ctypes.POINTER(c_int64)),
        ("strides", ctypes.POINTER(c_int64)),
        ("byte_offset", c_uint64),
    ]


class DLManagedTensor(ctypes.Structure):
    pass


LEGACY_DELETER = ctypes.CFUNCTYPE(None, ctypes.POINTER(DLManagedTensor))
DLManagedTensor._fields_ = [("dl_tensor", DLTensor), ("manager_ctx", c_void_p), ("deleter", LEGACY_DELETER)]


class DLPackVersion(ctypes.Structure):
    _fields_ = [("major", c_uint32), ("minor", c_uint32)]


class DLManagedTensorVersioned(ctypes.Structure):
    pass


VERSIONED_DELETER = ctypes.CFUNCTYPE(None, ctypes.POINTER(DLManagedTensorVersioned))
DLManagedTensorVersioned._fields_ = [
    ("version", DLPackVersion),
    ("manager_ctx", c_void_p),
    ("deleter", VERSIONED_DELETER),
    ("flags", c_uint64),
    ("dl_tensor", DLTensor),
]

_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.restype = ctypes.py_object
_capsule_new.argtypes = [c_void_p, ctypes.c_char_p, c_void_p]
_LEGACY_NAME = b"dltensor"
_VERSIONED_NAME = b"dltensor_versioned"

_NUMPY_CODES = {np.dtype(np.float32): (KDL_FLOAT, 32), np.dtype(np.float16): (KDL_FLOAT, 16),
                np.dtype(np.float64): (KDL_FLOAT, 64), np.dtype(np.int32): (KDL_INT, 32),
                np.dtype(np.uint16): (KDL_UINT, 16)}


class DLPackArray:
    """Exports ``array``'s memory through ``__dlpack__``, claiming the given device and dtype.

    ``deleted`` counts deleter calls (a consumer must call it once per capsule it consumed).
    ``exported`` counts capsules handed out.
    """

    def __init__(self, array, *, device_type=KDL_CPU, device_id=0, code=None, bits=None, versioned=True,
                 strides=None, version=(1, 0)):
        self.array = array
        self.device_type, self.device_id = device_type, device_id
        default_code, default_bits = _NUMPY_CODES.get(array.dtype, (KDL_FLOAT, array.dtype.itemsize * 8))
        self.code = default_code if code is None else code
        self.bits = default_bits if bits is None else bits
        self.versioned = versioned
        self.version = version
        if strides is None:
            strides = [s // array.dtype.itemsize for s in array.strides]
        self.strides = strides
        self.deleted = 0
        self.exported = 0
        self._keep = []

    def __dlpack_device__(self):
        return (self.device_type, self.device_id)

    def _tensor(self):
        ndim = self.array.ndim
        shape = (c_int64 * max(ndim, 1))(*self.array.shape)
        strides = (c_int64 * max(ndim, 1))(*self.strides)
        t = DLTensor()
        t.data = self.array.ctypes.data
        t.device = DLDevice(self.device_type, self.device_id)
        t.ndim = ndim
        t.dtype = DLDataType(self.code, self.bits, 1)
        t.shape = ctypes.cast(shape, ctypes.POINTER(c_int64))
        t.strides = ctypes.cast(strides, ctypes.POINTER(c_int64))
        t.byte_offset = 0
        self._keep += [shape, strides]
        return t

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        self.exported += 1

        def on_delete(_ptr):
            self.deleted += 1

        if self.versioned and max_version is not None and max_version[0] >= 1:
            m = DLManagedTensorVersioned()
            m.version = DLPackVersion(*self.version)
            m.flags = 0
            m.dl_tensor = self._tensor()
            m.deleter = VERSIONED_DELETER(on_delete)
            self._keep += [m, m.deleter]
            return _capsule_new(ctypes.addressof(m), _VERSIONED_NAME, None)
        m = DLManagedTensor()
        m.dl_tensor = self._tensor()
        m.deleter = LEGACY_DELETER(on_delete)
        self._keep += [m, m.deleter]
        return _capsule_new(ctypes.addressof(m), _LEGACY_NAME, None)


class LegacyDLPackArray(DLPackArray):
    """A pre-DLPack-1.0 producer: ``__dlpack__`` takes no keywords."""

    def __dlpack__(self):  # noqa: D105
        return DLPackArray.__dlpack__(self)


class ForeignArray:
    """Only the DLPack protocol of a numpy array (as a torch / cupy / jax array would offer)."""

    def __init__(self, array):
        self.array = array

    def __dlpack__(self, **kwargs):
        return self.array.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self.array.__dlpack_device__()


def bfloat16_bits(values):
    """float32 values rounded to bfloat16 (round to nearest even), as uint16 bit patterns."""
    u = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def bfloat16_to_float32(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)
