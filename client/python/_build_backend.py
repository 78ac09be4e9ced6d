"""A PEP 517/660 build backend for the pure-Python package pccheck, so that
`pip install client/python` (and `pip install -e`) need no download: a wheel
here is a zip of pccheck/*.py plus its metadata. Name, summary and extras
come from pyproject.toml's [project] table; the version is the project's, from
the root meson.build, and goes into the wheel as pccheck/_generated_version.py
(the package compares it with libpccheck's at load)."""
import base64
import hashlib
import io
import os
import re
import tarfile
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = "pccheck"


def _version():
    """The project's version: the generated file when building from an sdist
    (which has no meson.build), else the repository's meson.build."""
    generated = os.path.join(HERE, PACKAGE, "_generated_version.py")
    if os.path.exists(generated):
        with open(generated) as f:
            return re.search(r'^VERSION = "(.*)"$', f.read(), re.M).group(1)
    sys.path.insert(0, os.path.join(HERE, PACKAGE))
    try:
        import _version
        return _version.from_meson_build()
    finally:
        sys.path.pop(0)


def _generated_version():
    return ('"""Written by the build; the project version (meson.build)."""\n'
            'VERSION = "%s"\n' % _version()).encode()


def _project():
    with open(os.path.join(HERE, "pyproject.toml")) as f:
        text = f.read().split("[project]", 1)[1]
    field = lambda key: re.search(r'^%s = "(.*)"$' % key, text, re.M).group(1)  # noqa: E731
    return field("name"), _version(), field("description"), field("requires-python")


def _metadata():
    name, version, summary, python = _project()
    return ("Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: %s\nLicense: Apache-2.0\n"
            "Requires-Python: %s\nProvides-Extra: torch\nRequires-Dist: torch; extra == \"torch\"\n"
            % (name, version, summary, python))


def _sources():
    root = os.path.join(HERE, PACKAGE)
    for entry in sorted(os.listdir(root)):
        if entry.endswith(".py"):
            yield os.path.join(root, entry), "%s/%s" % (PACKAGE, entry)


def _write_wheel(directory, files):
    """files: [(archive name, bytes)]; writes the wheel, returns its file name."""
    name, version = _project()[:2]
    dist_info = "%s-%s.dist-info" % (name, version)
    files = list(files) + [
        (dist_info + "/METADATA", _metadata().encode()),
        (dist_info + "/WHEEL", b"Wheel-Version: 1.0\nGenerator: pccheck _build_backend\n"
                               b"Root-Is-Purelib: true\nTag: py3-none-any\n"),
    ]
    record = []
    for arcname, data in files:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append("%s,sha256=%s,%d" % (arcname, digest, len(data)))
    record.append(dist_info + "/RECORD,,")
    wheel = "%s-%s-py3-none-any.whl" % (name, version)
    with zipfile.ZipFile(os.path.join(directory, wheel), "w", zipfile.ZIP_DEFLATED) as z:
        for arcname, data in files:
            z.writestr(arcname, data)
        z.writestr(dist_info + "/RECORD", "\n".join(record) + "\n")
    return wheel


def get_requires_for_build_wheel(config_settings=None):
    return []


get_requires_for_build_sdist = get_requires_for_build_editable = get_requires_for_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = []
    for path, arcname in _sources():
        if arcname != "%s/_generated_version.py" % PACKAGE:
            with open(path, "rb") as f:
                files.append((arcname, f.read()))
    files.append(("%s/_generated_version.py" % PACKAGE, _generated_version()))
    return _write_wheel(wheel_directory, files)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    return _write_wheel(wheel_directory, [("%s.pth" % PACKAGE, (HERE + "\n").encode())])


def build_sdist(sdist_directory, config_settings=None):
    name, version = _project()[:2]
    base = "%s-%s" % (name, version)
    path = os.path.join(sdist_directory, base + ".tar.gz")
    with tarfile.open(path, "w:gz") as tar:
        generated = "%s/_generated_version.py" % PACKAGE
        for rel in ["pyproject.toml", "_build_backend.py"] + [a for _, a in _sources()]:
            if rel != generated:
                tar.add(os.path.join(HERE, rel), arcname="%s/%s" % (base, rel))
        data = _generated_version()
        entry = tarfile.TarInfo("%s/%s" % (base, generated))
        entry.size = len(data)
        tar.addfile(entry, io.BytesIO(data))
        info = _metadata().encode()
        entry = tarfile.TarInfo("%s/PKG-INFO" % base)
        entry.size = len(info)
        tar.addfile(entry, io.BytesIO(info))
    return os.path.basename(path)
