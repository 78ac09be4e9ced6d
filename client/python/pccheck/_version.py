"""The version of this package, which is the version of libpccheck it needs.

The project's version is written once, in the root meson.build's project().
An installed package carries it in _generated_version.py (written by
`meson install` and by _build_backend.py into the wheel); a source checkout
reads it from meson.build at the top of the repository.
"""
import os
import re

_HERE = os.path.dirname(os.path.abspath(__file__))
MESON_BUILD = os.path.normpath(os.path.join(_HERE, "..", "..", "..", "meson.build"))


def from_meson_build(path=MESON_BUILD):
    """The version in project(..., version : 'X') of the meson.build at `path`."""
    with open(path) as f:
        text = f.read()
    m = re.search(r"project\((?:[^)]|\n)*?version\s*:\s*'([^']+)'", text)
    if m is None:
        raise ValueError("no project version in " + path)
    return m.group(1)


def version():
    """This package's version, "MAJOR.MINOR.PATCH"."""
    try:
        from ._generated_version import VERSION
        return VERSION
    except ImportError:
        return from_meson_build()
