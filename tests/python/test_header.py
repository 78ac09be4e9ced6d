"""The Python package against the C ABI it wraps: the status codes and the
ctypes prototypes of pccheck/_native.py are checked against
client/include/pccheck.h as the compiler sees it (parsed here), and the loader
refuses a library that lacks required functions or is of another version.
Needs no daemon; the loader tests need the built libpccheck."""
import ctypes
import os
import re
import sys
from ctypes import (POINTER, c_char_p, c_int, c_int32, c_int64, c_size_t, c_uint32, c_uint64,
                    c_void_p)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

import pccheck  # noqa: E402
from pccheck import _native, _version, errors  # noqa: E402

HEADER = os.path.join(harness.SOURCE, "client", "include", "pccheck.h")
LIBRARY = os.path.join(harness.BUILD, "client", "libpccheck.so")


def _header():
    with open(HEADER) as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)  # comments
    return re.sub(r"//[^\n]*", " ", text)


def header_codes():
    """{name: value} of the PCCHECK_OK / PCCHECK_E* enum."""
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"\bPCCHECK_(OK|E[A-Z]+)\s*=\s*(\d+)", _header())}


def header_functions():
    """{name: (return type, [parameter types])}, types as written, names dropped."""
    out = {}
    for m in re.finditer(r"([A-Za-z_][\w\s\*]*?)\b(pccheck_\w+)\s*\(([^;{]*?)\)\s*;", _header()):
        ret, name, params = m.group(1), m.group(2), " ".join(m.group(3).split())
        types = []
        if params not in ("", "void"):
            for p in params.split(","):
                p = p.strip()
                # the parameter's name is the last identifier, after the stars
                types.append(re.sub(r"\s*\b[A-Za-z_]\w*$", "", p).strip())
        out[name] = (" ".join(ret.split()), types)
    return out


_BASE = {
    "int": c_int, "int32_t": c_int32, "uint32_t": c_uint32, "int64_t": c_int64,
    "uint64_t": c_uint64, "size_t": c_size_t,
}


def ctype(c_type):
    """The ctypes type _native must declare for the C type `c_type`.

    Opaque handles and void* are c_void_p. char*: a string the library owns
    (const char*, const char**, const char* const*) is c_char_p; a malloc()ed
    one the caller frees (char**) stays c_void_p so it can be passed to
    pccheck_free."""
    t = c_type.replace("const", " ")
    stars = t.count("*")
    base = t.replace("*", " ").split()
    assert len(base) == 1, c_type
    base = base[0]
    if base == "void" and stars == 0:
        return None
    if base == "char":
        owned_by_library = "const" in c_type
        if stars == 1:
            return c_char_p
        inner = c_char_p if owned_by_library else c_void_p
        for _ in range(stars - 2):
            inner = POINTER(inner)
        return POINTER(inner)
    if base == "void" or base.startswith("pccheck_"):
        inner, stars = c_void_p, stars - 1
    else:
        inner = _BASE[base]
    for _ in range(stars):
        inner = POINTER(inner)
    return inner


def test_error_codes_match_the_header():
    codes = header_codes()
    assert codes["OK"] == 0 and "ETIMEOUT" in codes, codes
    for name, value in codes.items():
        assert getattr(errors, name) == value, "errors.%s is %r; pccheck.h says %d" % (
            name, getattr(errors, name, None), value)
        if name != "OK":
            assert errors.CODE_NAMES[value] == name, name
    assert set(errors.CODE_NAMES) == {v for n, v in codes.items() if n != "OK"}


def test_timeout_is_a_timeout_error():
    e = errors.error_for(header_codes()["ETIMEOUT"], "timed out after 5 ms waiting for x")
    assert isinstance(e, pccheck.CheckpointTimeout) and isinstance(e, TimeoutError)


def test_prototypes_match_the_header():
    functions = header_functions()
    assert "pccheck_connect" in functions and "pccheck_default_root" in functions
    assert set(functions) == set(_native.PROTOTYPES), (
        "only in pccheck.h: %s; only in _native.py: %s"
        % (sorted(set(functions) - set(_native.PROTOTYPES)),
           sorted(set(_native.PROTOTYPES) - set(functions))))
    for name, (ret, params) in sorted(functions.items()):
        restype, argtypes, _ = _native.PROTOTYPES[name]
        assert restype is ctype(ret), "%s returns %s: want %r, _native has %r" % (
            name, ret, ctype(ret), restype)
        want = [ctype(p) for p in params]
        assert list(argtypes) == want, "%s(%s): want %r, _native has %r" % (
            name, ", ".join(params), want, argtypes)


def test_the_package_version_is_the_projects():
    assert pccheck.__version__ == _version.from_meson_build()
    assert re.match(r"^\d+\.\d+\.\d+$", pccheck.__version__)


def _built_library():
    if not os.path.exists(LIBRARY):
        harness.skip("no libpccheck at " + LIBRARY + " (build it first)")
    return ctypes.CDLL(LIBRARY)


def test_the_built_library_is_accepted_and_has_our_version():
    lib = _native.checked(_built_library(), LIBRARY)
    assert lib.pccheck_version().decode() == pccheck.__version__


def test_a_library_of_another_version_is_refused_naming_both():
    try:
        _native.checked(_built_library(), LIBRARY, expected_version="99.0.0")
    except pccheck.PccheckError as e:
        assert e.code == errors.EUNAVAILABLE
        assert "libpccheck " + pccheck.__version__ in str(e), str(e)
        assert "version 99.0.0" in str(e) and LIBRARY in str(e), str(e)
    else:
        raise AssertionError("a libpccheck of another version was accepted")


def test_a_library_without_the_required_functions_is_refused_naming_them():
    libc = ctypes.CDLL(None)  # this process: has no pccheck_* at all
    try:
        _native.checked(libc, "the C library")
    except pccheck.PccheckError as e:
        assert "the C library is not a usable libpccheck" in str(e), str(e)
        for name, (_, _, required) in _native.PROTOTYPES.items():
            assert (name in str(e)) == required, name
    else:
        raise AssertionError("a library without pccheck_connect was accepted")


def test_default_paths_come_from_libpccheck():
    _built_library()
    env = dict(os.environ)
    try:
        os.environ["PCCHECK_SOCKET"] = "/tmp/elsewhere/d.sock"
        assert pccheck.default_socket() == "/tmp/elsewhere/d.sock"
        del os.environ["PCCHECK_SOCKET"]
        os.environ["XDG_RUNTIME_DIR"] = "/run/user/4242"
        os.environ["XDG_STATE_HOME"] = "/var/tmp/state-4242"
        from pccheck import offline
        if os.geteuid() == 0:
            assert pccheck.default_socket() == "/run/pccheck/pccheckd.sock"
            assert offline.default_root() == "/var/lib/pccheck"
        else:
            assert pccheck.default_socket() == "/run/user/4242/pccheck/pccheckd.sock"
            assert offline.default_root() == "/var/tmp/state-4242/pccheck"
    finally:
        os.environ.clear()
        os.environ.update(env)


if __name__ == "__main__":
    harness.main(globals())
