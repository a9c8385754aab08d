"""AES-256-GCM through the OpenSSL that the interpreter itself links (``_hashlib``'s libcrypto).

``cryptography`` ships its own OpenSSL in a Rust extension that costs the daemon about 7.5 MB
resident once the first secret is sealed, which every daemon that deploys anything does; the
interpreter's libcrypto is already mapped (``hashlib``, ``ssl``) and its EVP interface does the
same AES-256-GCM. The output is what ``cryptography``'s ``AESGCM.encrypt`` returns (ciphertext,
then the 16-byte tag), so values sealed by either open with the other. ``load()`` returns None
where the symbols cannot be found (an interpreter without OpenSSL): the cipher then uses
``cryptography``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ctypes

TAG_BYTES = 16
KEY_BYTES = 32
NONCE_BYTES = 12
_CTRL_GCM_GET_TAG = 0x10
_CTRL_GCM_SET_TAG = 0x11


class InvalidTag(Exception):
    """The sealed value was not sealed under this key (or was altered)."""


class OpenSSLAESGCM:
    """The subset of ``cryptography``'s ``AESGCM`` the cipher uses: ``encrypt`` and ``decrypt``
    with a 12-byte nonce and no associated data. One EVP context per call (thread-safe)."""

    def __init__(self, lib: Any, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError("AES-256-GCM needs a 32-byte key")
        self._lib = lib
        self._key = key

    def encrypt(self, nonce: bytes, data: bytes, associated_data: None) -> bytes:
        if len(nonce) != NONCE_BYTES or associated_data is not None:
            raise ValueError("a 12-byte nonce and no associated data")
        import ctypes

        lib = self._lib
        with self._context() as ctx:
            out, n, tail = _buffers(len(data))
            ok = lib.EVP_EncryptInit_ex(ctx, lib.EVP_aes_256_gcm(), None, self._key, nonce) == 1
            ok = ok and lib.EVP_EncryptUpdate(ctx, out, ctypes.byref(n), data, len(data)) == 1
            ok = ok and lib.EVP_EncryptFinal_ex(ctx, ctypes.byref(out, n.value), ctypes.byref(tail)) == 1
            size = n.value + tail.value
            tag = ctypes.create_string_buffer(TAG_BYTES)
            ok = ok and lib.EVP_CIPHER_CTX_ctrl(ctx, _CTRL_GCM_GET_TAG, TAG_BYTES, tag) == 1
            if not ok or size != len(data):
                raise RuntimeError("OpenSSL failed to seal a value")
            return out.raw[:size] + tag.raw

    def decrypt(self, nonce: bytes, data: bytes, associated_data: None) -> bytes:
        if associated_data is not None:
            raise ValueError("no associated data")
        if len(nonce) != NONCE_BYTES or len(data) < TAG_BYTES:
            raise InvalidTag  # a truncated value
        body, tag = data[:-TAG_BYTES], data[-TAG_BYTES:]
        import ctypes

        lib = self._lib
        with self._context() as ctx:
            out, n, tail = _buffers(len(body))
            if (
                lib.EVP_DecryptInit_ex(ctx, lib.EVP_aes_256_gcm(), None, self._key, nonce) != 1
                or lib.EVP_DecryptUpdate(ctx, out, ctypes.byref(n), body, len(body)) != 1
                or lib.EVP_CIPHER_CTX_ctrl(ctx, _CTRL_GCM_SET_TAG, TAG_BYTES, tag) != 1
            ):
                raise RuntimeError("OpenSSL failed to open a value")
            # The tag is checked here: anything but 1 means it does not match.
            if lib.EVP_DecryptFinal_ex(ctx, ctypes.byref(out, n.value), ctypes.byref(tail)) != 1:
                raise InvalidTag
            return out.raw[: n.value + tail.value]

    @contextmanager
    def _context(self) -> Iterator[Any]:
        """A fresh EVP cipher context, freed afterwards (one per call: thread-safe)."""
        ctx = self._lib.EVP_CIPHER_CTX_new()
        if not ctx:
            raise MemoryError("EVP_CIPHER_CTX_new")
        try:
            yield ctx
        finally:
            self._lib.EVP_CIPHER_CTX_free(ctx)


def _buffers(size: int) -> tuple[ctypes.Array[ctypes.c_char], ctypes.c_int, ctypes.c_int]:
    """The output buffer (room for the tag too) and the two length counters EVP fills in."""
    import ctypes  # at run time, on first use (see load())

    return ctypes.create_string_buffer(size + TAG_BYTES), ctypes.c_int(0), ctypes.c_int(0)


def _bind(lib: Any) -> None:
    import ctypes

    p, i, b = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p
    signatures: dict[str, tuple[Any, list[Any]]] = {
        "EVP_CIPHER_CTX_new": (p, []),
        "EVP_CIPHER_CTX_free": (None, [p]),
        "EVP_aes_256_gcm": (p, []),
        "EVP_EncryptInit_ex": (i, [p, p, p, b, b]),
        "EVP_EncryptUpdate": (i, [p, p, p, b, i]),
        "EVP_EncryptFinal_ex": (i, [p, p, p]),
        "EVP_DecryptInit_ex": (i, [p, p, p, b, b]),
        "EVP_DecryptUpdate": (i, [p, p, p, b, i]),
        "EVP_DecryptFinal_ex": (i, [p, p, p]),
        "EVP_CIPHER_CTX_ctrl": (i, [p, i, i, p]),
    }
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes


_loaded: list[Any] = []


def load() -> Any | None:
    """The interpreter's libcrypto with the EVP functions typed, or None when it has none."""
    if not _loaded:
        try:
            import _hashlib
            import ctypes  # here: ctypes costs an idle daemon that never seals about 0.7 MB

            # dlsym on _hashlib's handle also searches the libraries it links: its libcrypto.
            lib: Any = ctypes.CDLL(_hashlib.__file__)
            _bind(lib)
            _selftest(lib)
        except Exception:
            lib = None
        _loaded.append(lib)
    return _loaded[0]


def _selftest(lib: Any) -> None:
    """A known answer (NIST's GCM test vector 14: AES-256, zero key and IV, one zero block):
    a libcrypto that answers differently is not used."""
    aead = OpenSSLAESGCM(lib, bytes(32))
    sealed = aead.encrypt(bytes(12), bytes(16), None)
    expected = bytes.fromhex("cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919")
    if sealed != expected or aead.decrypt(bytes(12), sealed, None) != bytes(16):
        raise RuntimeError("libcrypto's AES-256-GCM gave an unexpected answer")
