"""libpccheck through ctypes: finding the library, the C prototypes of
pccheck.h, and turning a (status code, errptr) pair into an exception.

The library is looked for, in order:
  1. $PCCHECK_LIB (a path to the .so);
  2. next to the package (an installed or bundled layout);
  3. a meson build tree: $PCCHECK_BUILD_DIR/client/, then <repo>/build/client/
     relative to this source file;
  4. the system loader (libpccheck.so.0).
The library found must export every function marked required below and be
of this package's version (pccheck_version() == pccheck._version.version());
otherwise loading fails with PccheckError naming what is missing or both
versions. Optional functions missing from it (the GPU calls and the offline
reader) raise PccheckError only when called.

PROTOTYPES mirrors pccheck.h; tests/python/test_header.py checks the two
against each other.
"""
import ctypes
import os
import threading
from ctypes import (POINTER, c_char_p, c_int, c_int32, c_int64, c_size_t, c_uint32,
                    c_uint64, c_void_p)

from . import _version
from .errors import EUNAVAILABLE, PccheckError, error_for

_ERR = POINTER(c_void_p)  # char** errptr, kept as void* so it can be freed
_I64PP = POINTER(POINTER(c_int64))

# name: (restype, argtypes, required)
PROTOTYPES = {
    "pccheck_connect": (c_int, [c_char_p, c_char_p, c_uint32, POINTER(c_void_p), _ERR], True),
    "pccheck_close": (None, [c_void_p], True),
    "pccheck_alloc_shared": (c_int, [c_void_p, c_uint64, POINTER(c_void_p), _ERR], True),
    "pccheck_register": (c_int, [c_void_p, c_size_t, POINTER(c_char_p), POINTER(c_char_p),
                                 _I64PP, POINTER(c_uint32), POINTER(c_void_p),
                                 POINTER(c_uint64), _ERR], True),
    "pccheck_register_devices": (c_int, [c_void_p, c_size_t, POINTER(c_char_p),
                                         POINTER(c_char_p), _I64PP, POINTER(c_uint32),
                                         POINTER(c_void_p), POINTER(c_uint64),
                                         POINTER(c_int32), c_int, _ERR], False),
    "pccheck_save_on_stream": (c_int, [c_void_p, c_uint64, c_void_p, c_size_t, c_void_p,
                                       POINTER(c_uint64), _ERR], False),
    "pccheck_before_update_stream": (c_int, [c_void_p, c_void_p, c_int, _ERR], False),
    "pccheck_checkpoint_open": (c_int, [c_char_p, c_char_p, c_uint32, c_int64,
                                        POINTER(c_void_p), _ERR], False),
    "pccheck_checkpoint_step": (c_uint64, [c_void_p], False),
    "pccheck_checkpoint_tensor_count": (c_size_t, [c_void_p], False),
    "pccheck_checkpoint_tensor": (c_int, [c_void_p, c_size_t, POINTER(c_char_p),
                                          POINTER(c_char_p), _I64PP, POINTER(c_uint32),
                                          POINTER(c_void_p), POINTER(c_uint64)], False),
    "pccheck_checkpoint_blob": (None, [c_void_p, POINTER(c_void_p), POINTER(c_size_t)], False),
    "pccheck_checkpoint_close": (None, [c_void_p], False),
    "pccheck_save": (c_int, [c_void_p, c_uint64, c_void_p, c_size_t, POINTER(c_uint64), _ERR],
                     True),
    "pccheck_before_update": (c_int, [c_void_p, c_int, _ERR], True),
    "pccheck_wait": (c_int, [c_void_p, c_uint64, c_int, _ERR], True),
    "pccheck_wait_all": (c_int, [c_void_p, c_int, _ERR], True),
    "pccheck_poll": (c_int, [c_void_p, c_uint64, POINTER(c_int), _ERR], True),
    "pccheck_wait_durable": (c_int, [c_void_p, c_int, _ERR], True),
    "pccheck_progress": (c_int, [c_void_p, POINTER(c_int), POINTER(c_uint64), POINTER(c_int),
                                 POINTER(c_uint64), _ERR], True),
    "pccheck_latest_step": (c_int, [c_void_p, POINTER(c_int), POINTER(c_uint64), _ERR], True),
    "pccheck_restore": (c_int, [c_void_p, c_int64, POINTER(c_uint64), POINTER(c_void_p),
                                POINTER(c_size_t), _ERR], True),
    "pccheck_list": (c_int, [c_void_p, POINTER(c_size_t), POINTER(POINTER(c_uint64)),
                             POINTER(POINTER(c_uint64)), POINTER(POINTER(c_int)), _ERR], True),
    "pccheck_status_json": (c_int, [c_char_p, POINTER(c_void_p), _ERR], True),
    "pccheck_free": (None, [c_void_p], True),
    "pccheck_version": (c_char_p, [], True),
    "pccheck_default_socket_path": (c_int, [POINTER(c_void_p), _ERR], True),
    "pccheck_default_root": (c_int, [POINTER(c_void_p), _ERR], True),
}

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_lock = threading.Lock()
_lib = None
_lib_path = None


def candidates():
    """The paths tried, in order (the last is a bare name for the loader)."""
    paths = []
    if os.environ.get("PCCHECK_LIB"):
        return [os.environ["PCCHECK_LIB"]]
    for d in (_PACKAGE_DIR, os.path.dirname(_PACKAGE_DIR)):
        paths.append(os.path.join(d, "libpccheck.so"))
    if os.environ.get("PCCHECK_BUILD_DIR"):
        paths.append(os.path.join(os.environ["PCCHECK_BUILD_DIR"], "client", "libpccheck.so"))
    repo = os.path.normpath(os.path.join(_PACKAGE_DIR, "..", "..", ".."))
    paths.append(os.path.join(repo, "build", "client", "libpccheck.so"))
    paths.append("libpccheck.so.0")
    return paths


def _load():
    tried = []
    for path in candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append(path + " (absent)")
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
    raise PccheckError(EUNAVAILABLE, "cannot load libpccheck; tried " + "; ".join(tried) +
                       ". Build it (meson setup build && ninja -C build) or set PCCHECK_LIB "
                       "to the path of libpccheck.so")


def checked(lib, path, expected_version=None):
    """`lib` (a ctypes library loaded from `path`) with its prototypes
    declared, once it exports every required function and is of
    `expected_version` (default: this package's); PccheckError otherwise."""
    missing = [name for name, (_, _, required) in PROTOTYPES.items()
               if required and getattr(lib, name, None) is None]
    if missing:
        raise PccheckError(EUNAVAILABLE, "%s is not a usable libpccheck: it lacks %s. Point "
                           "PCCHECK_LIB at the libpccheck.so built with this package (meson "
                           "setup build && ninja -C build)" % (path, ", ".join(missing)))
    for name, (restype, argtypes, _) in PROTOTYPES.items():
        f = getattr(lib, name, None)
        if f is not None:
            f.restype = restype
            f.argtypes = argtypes
    want = expected_version or _version.version()
    have = (lib.pccheck_version() or b"").decode("utf-8", errors="replace")
    if have != want:
        raise PccheckError(EUNAVAILABLE, "%s is libpccheck %s, but this pccheck package is "
                           "version %s and needs the same: install the matching libpccheck, or "
                           "point PCCHECK_LIB at it" % (path, have, want))
    return lib


def library():
    """The loaded library with its prototypes declared (loaded and checked
    once)."""
    global _lib, _lib_path
    with _lock:
        if _lib is None:
            lib, path = _load()
            _lib, _lib_path = checked(lib, path), path
        return _lib


def library_path():
    library()
    return _lib_path


def has(name):
    """Whether the loaded library exports `name`."""
    return hasattr(library(), name)


def function(name):
    """The C function `name`; PccheckError when this libpccheck lacks it."""
    lib = library()
    f = getattr(lib, name, None)
    if f is None:
        raise PccheckError(EUNAVAILABLE, "%s is not in %s: this libpccheck was built without it "
                           "(an older version, or without CUDA); rebuild libpccheck or point "
                           "PCCHECK_LIB at one that has it" % (name, _lib_path))
    return f


def take_string(ptr):
    """The C string at void* `ptr` as str, freed with pccheck_free."""
    if not ptr:
        return ""
    try:
        return ctypes.string_at(ptr).decode("utf-8", errors="replace")
    finally:
        library().pccheck_free(ptr)


def check(code, err):
    """Raises the exception for status `code`, whose message is in the
    c_void_p `err` (freed here; also freed on success, where it is NULL)."""
    message = take_string(err.value) if err.value else ""
    if code != 0:
        raise error_for(code, message or "libpccheck failed with status %d" % code)


def call(name, *args):
    """Calls `name` with args plus an errptr; raises on a non-zero status."""
    err = c_void_p()
    code = function(name)(*args, ctypes.byref(err))
    check(code, err)


def take_bytes(ptr, n):
    """n bytes at void* `ptr` as bytes, freed with pccheck_free."""
    try:
        return ctypes.string_at(ptr, n) if n else b""
    finally:
        if ptr:
            library().pccheck_free(ptr)


def version():
    return library().pccheck_version().decode()


def take_path(name):
    """The malloc()ed path a pccheck_default_* function `name` returns, as str."""
    out = c_void_p()
    call(name, ctypes.byref(out))
    return take_string(out.value)
