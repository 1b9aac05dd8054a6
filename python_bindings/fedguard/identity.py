"""Client verification (docs/verification.md): Ed25519 keys, signing updates, round nonces and
the client registry. Every function is a thin wrapper of fedguard's C++ (OpenSSL libcrypto);
the signed message is the interoperable contract of docs/formats.md ("Signed updates"), so a
signature made here verifies with PyNaCl or ``cryptography`` and the other way round.

Client side::

    from fedguard import identity
    private_key, public_key = identity.generate_key_pair()        # 32 raw bytes each
    sig = identity.sign_update(private_key, "my-federation", "client-7", round=12,
                               nonce=nonce_from_server, update=delta)   # 64 bytes

Server side::

    registry = identity.Registry.load("R.json")
    engine = fedguard.Engine(policy, registry=registry)
    nonce = identity.new_nonce()                                  # send it with the round
    result = engine.process_round(updates, client_ids=ids, signatures=sigs, round=12, nonce=nonce)
"""

from __future__ import annotations

import base64 as _b64
import json
from typing import Any, Iterator, Optional, Tuple

import numpy as np

from . import _core

__all__ = [
    "Registry",
    "generate_key_pair",
    "public_key_of",
    "new_nonce",
    "sign_update",
    "update_message",
    "update_bytes",
    "verify_signature",
    "nonce_from_hex",
    "b64encode",
    "b64decode",
]


def generate_key_pair() -> Tuple[bytes, bytes]:
    """A fresh Ed25519 key pair ``(private_key, public_key)``: 32 raw bytes each; the private key
    is the RFC 8032 seed (``nacl.signing.SigningKey(private_key)`` and
    ``Ed25519PrivateKey.from_private_bytes(private_key)`` take it)."""
    return _core._id_generate_key_pair()


def public_key_of(private_key: bytes) -> bytes:
    """The 32-byte public key of a 32-byte private key."""
    return _core._id_public_key_of(bytes(private_key))


def new_nonce() -> bytes:
    """A fresh 32-byte round nonce from the operating system's CSPRNG."""
    return _core._id_new_nonce()


def _round(value: Any) -> int:
    """The round number: an integer in [0, 2^64 - 1] (int(1.5) was 1, -1 and 2^64 a pybind11
    TypeError; hostile probe)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= int(value) < 2**64:
        raise _core.InvalidInputError(f"round must be a non-negative integer, got {value!r} (at most 2^64 - 1)")
    return int(value)


def _utf8(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _core.InvalidInputError(f"{what} is not valid UTF-8 text: {value!r} ({exc.reason})") from None
    return value


def nonce_from_hex(text: str) -> bytes:
    """The 32-byte nonce of 64 hex digits (ValueError otherwise)."""
    return _core._id_parse_nonce_hex(_utf8(text, "nonce"))


def b64encode(raw: bytes) -> str:
    """RFC 4648 base64 (standard alphabet, padded): the text form of keys and signatures."""
    return _core._id_base64_encode(bytes(raw))


def b64decode(text: str) -> bytes:
    """Strict base64: only the canonical encoding is accepted (ValueError otherwise)."""
    raw = _core._id_base64_decode(_utf8(text, "base64 text"))
    if raw is None:
        raise ValueError(f"not canonical base64: {text!r}")
    return raw


def update_bytes(update: Any) -> Tuple[memoryview, str, int]:
    """The bytes of an update as sent (flattened, C order, little-endian), its dtype name and d.

    Accepts numpy arrays (float32, float16, ml_dtypes bfloat16) and torch tensors (copied to
    the CPU); anything else is converted with ``np.asarray``.
    """
    if type(update).__module__.split(".")[0] == "torch":
        import torch

        t = update.detach().to("cpu").contiguous().reshape(-1)
        names = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}
        if t.dtype not in names:
            raise ValueError(f"update dtype {t.dtype} is not float32, float16 or bfloat16")
        raw = t.view(torch.int32 if t.dtype == torch.float32 else torch.int16).numpy()
        return memoryview(np.ascontiguousarray(raw)).cast("B"), names[t.dtype], int(t.numel())
    a = np.asarray(update)
    name = {"float32": "float32", "float16": "float16", "bfloat16": "bfloat16"}.get(a.dtype.name)
    if name is None:
        raise ValueError(f"update dtype {a.dtype} is not float32, float16 or bfloat16")
    if a.dtype.byteorder == ">":
        raise ValueError("update must be little-endian")
    a = np.ascontiguousarray(a).reshape(-1)
    return memoryview(a.view(np.uint8)), name, int(a.size)


def update_message(federation: str, client: str, round: int, nonce: bytes, update: Any) -> bytes:
    """The exact bytes a client signs for ``update`` (docs/formats.md, "Signed updates")."""
    data, dtype, d = update_bytes(update)
    return _core._id_update_message(_utf8(federation, "federation"), _utf8(str(client), "client"), _round(round),
                                    bytes(nonce), dtype, d,
                                    _core._id_sha256(data))


def update_digest(update: Any) -> bytes:
    """SHA-256 of an update's bytes as sent: what a server computes while an update arrives, to
    pass as ``Engine.process_round(..., update_digests=...)`` so that the round does not hash
    (docs/verification.md, "Hashing on arrival"). The GIL is released while hashing."""
    data, _, _ = update_bytes(update)
    return _core._id_sha256(data)


def sign_update(private_key: bytes, federation: str, client: str, round: int, nonce: bytes,
                update: Any) -> bytes:
    """The 64-byte Ed25519 signature of ``update_message(...)``: what a client sends with its
    update (base64 with ``b64encode`` for JSON transports)."""
    data, dtype, d = update_bytes(update)
    return _core._id_sign_update(bytes(private_key), _utf8(federation, "federation"), _utf8(str(client), "client"),
                                 _round(round), bytes(nonce),
                                 dtype, d, data)


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` is a valid Ed25519 signature of ``message``."""
    return _core._id_verify(bytes(public_key), bytes(message), bytes(signature))


class Registry:
    """The client registry (schema: docs/formats.md, "Client registry"). Every change goes through
    fedguard's C++ validation; ``save`` writes atomically."""

    def __init__(self, federation: Optional[str] = None, *, max_clients: int = 0, max_new_per_round: int = 0,
                 probation_rounds: int = 0, probation_max_share: float = 1.0, _text: Optional[str] = None):
        if _text is None:
            if not federation:
                raise ValueError("a registry needs a federation id")
            _text = json.dumps({"version": 1, "federation": federation, "max_clients": int(max_clients),
                                "max_new_per_round": int(max_new_per_round),
                                "probation": {"rounds": int(probation_rounds), "max_share": float(probation_max_share)},
                                "clients": []})
        self._text = _core._id_registry_normalize(_text, "registry")

    @classmethod
    def load(cls, path: str) -> "Registry":
        r = cls.__new__(cls)
        r._text = _core._id_registry_load(str(path))
        return r

    @classmethod
    def from_json(cls, text: str) -> "Registry":
        return cls(_text=text)

    def save(self, path: str) -> None:
        _core._id_registry_save(str(path), self._text)

    def to_json(self) -> str:
        return self._text

    def to_dict(self) -> dict:
        return json.loads(self._text)

    @property
    def federation(self) -> str:
        return self.to_dict()["federation"]

    def add(self, client: str, public_key: Any, *, pending: bool = False, enrolled_round: int = 0) -> None:
        """Registers a client; ``public_key`` is 32 raw bytes or its base64 text."""
        key = public_key if isinstance(public_key, str) else b64encode(bytes(public_key))
        self._text = _core._id_registry_add(self._text, str(client), key, "pending" if pending else "active",
                                            int(enrolled_round))

    def revoke(self, client: str) -> None:
        self._text = _core._id_registry_revoke(self._text, str(client))

    def clients(self) -> Iterator[dict]:
        return iter(self.to_dict()["clients"])

    def __repr__(self) -> str:
        d = self.to_dict()
        return f"<fedguard.identity.Registry federation={d['federation']!r} clients={len(d['clients'])}>"
