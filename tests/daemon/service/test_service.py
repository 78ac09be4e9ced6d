"""Running pccheckd as a service, and what `meson install` ships:

* the installed systemd unit passes `systemd-analyze verify` with no complaint,
  and `systemd-analyze security --offline=true` rates its exposure 3.0 or lower
  (both SKIP by name where systemd-analyze is missing);
* `meson install --destdir` puts every file where meson says it goes, the list
  includes each thing operators and trainers need, and the installed Python
  package imports with /usr/bin/python3 and reaches the installed libpccheck;
* the C, C++ and Python examples of docs/trainers.md compile against
  libpccheck and run to completion against a real pccheckd.

Run by scripts/test (under pytest, or as a plain script printing PASS/FAIL/SKIP
lines) and by `meson test` (as a plain script).
"""
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
import harness  # noqa: E402  (tests/python/harness.py: paths, skip(), Daemon, main())

SOURCE, BUILD = harness.SOURCE, harness.BUILD
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, the one with torch
MAX_EXPOSURE = 3.0


def _run(cmd, timeout=300, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout, **kw)


@functools.lru_cache(maxsize=None)
def _installed():
    """Installs the build into a temporary destdir once: (destdir, {source: dest})."""
    if not os.path.isdir(os.path.join(BUILD, "meson-info")):
        raise AssertionError("no meson build at %s (set PCCHECK_BUILD_DIR)" % BUILD)
    destdir = tempfile.mkdtemp(prefix="pcc-install-")
    meson = shutil.which("meson") or "meson"
    r = _run([meson, "install", "-C", BUILD, "--no-rebuild", "--destdir", destdir])
    assert r.returncode == 0, "meson install failed:\n" + r.stdout[-3000:]
    r = _run([meson, "introspect", BUILD, "--installed"])
    assert r.returncode == 0, r.stdout
    return destdir, json.loads(r.stdout)


def _under(destdir, path):
    return os.path.join(destdir, path.lstrip("/"))


def _installed_path(suffix):
    """The one installed path that ends with suffix."""
    _, files = _installed()
    found = [d for d in files.values() if d.endswith(suffix)]
    assert len(found) == 1, "expected one installed file ending in %s, got %s" % (suffix, found)
    return found[0]


def _installed_package():
    """Where the Python package pccheck is installed (a directory, inside destdir)."""
    destdir, files = _installed()
    source = os.path.join(SOURCE, "client", "python", "pccheck")
    found = [d for s, d in files.items() if os.path.realpath(s) == os.path.realpath(source)]
    assert len(found) == 1, "meson does not install %s (found %s)" % (source, found)
    return _under(destdir, found[0])


def _installed_unit():
    """A copy of the installed unit whose ExecStart names the installed binary
    inside the destdir (systemd-analyze checks that it is executable)."""
    destdir, _ = _installed()
    unit = _installed_path("/pccheckd.service")
    with open(_under(destdir, unit)) as f:
        text = f.read()
    sbin = _installed_path("/pccheckd")
    assert "ExecStart=%s --config /etc/pccheck/pccheckd.toml\n" % sbin in text, \
        "the unit's ExecStart does not name the installed pccheckd (%s)" % sbin
    out_dir = tempfile.mkdtemp(prefix="pcc-unit-")
    out = os.path.join(out_dir, "pccheckd.service")
    with open(out, "w") as f:
        f.write(text.replace("ExecStart=" + sbin, "ExecStart=" + _under(destdir, sbin)))
    return out


def _systemd_analyze():
    tool = shutil.which("systemd-analyze")
    if tool is None:
        harness.skip("systemd-analyze is not installed (apt-get install systemd)")
    return tool


def test_unit_file_verifies():
    tool = _systemd_analyze()
    unit = _installed_unit()
    r = _run([tool, "verify", unit])
    # verify exits 0 on unknown keys too, and says so: any output is a finding.
    assert r.returncode == 0 and not r.stdout.strip(), \
        "systemd-analyze verify %s (exit %d):\n%s" % (unit, r.returncode, r.stdout)


def test_unit_exposure_is_at_most_3():
    tool = _systemd_analyze()
    unit = _installed_unit()
    r = _run([tool, "security", "--offline=true", "--no-pager", unit])
    m = re.search(r"Overall exposure level for pccheckd\.service: (\d+\.\d+)", r.stdout)
    assert m, "no exposure level in the output of systemd-analyze security:\n" + r.stdout[-3000:]
    exposure = float(m.group(1))
    findings = "\n".join(line for line in r.stdout.splitlines() if line.startswith("\u2717"))
    assert exposure <= MAX_EXPOSURE, \
        "exposure %.1f is over %.1f; what it counts against the unit:\n%s" % (
            exposure, MAX_EXPOSURE, findings)


def test_meson_install_puts_everything_in_place():
    destdir, files = _installed()
    missing = [d for d in files.values() if not os.path.exists(_under(destdir, d))]
    assert not missing, "meson says these are installed, but they are not: %s" % missing
    expected = [
        "/sbin/pccheckd", "/bin/pccheck", "/libpccheck.so.0", "/include/pccheck.h",
        "/include/pccheck/client.h", "/include/pccheck/status.h", "/pkgconfig/pccheck.pc",
        "/systemd/system/pccheckd.service", "/sysusers.d/pccheck.conf",
        "/doc/pccheck/pccheckd.example.toml", "/doc/pccheck/operators.md",
        "/doc/pccheck/trainers.md",
    ]
    dests = list(files.values())
    absent = [e for e in expected if not any(d.endswith(e) for d in dests)]
    assert not absent, "meson install does not install: %s" % absent
    package = _installed_package()
    source = os.path.join(SOURCE, "client", "python", "pccheck")
    modules = sorted(f for f in os.listdir(source) if f.endswith(".py"))
    assert "__init__.py" in modules and "torch.py" in modules
    absent = [m for m in modules if not os.path.isfile(os.path.join(package, m))]
    assert not absent, "the installed package %s lacks %s" % (package, absent)
    with open(_under(destdir, _installed_path("/doc/pccheck/pccheckd.example.toml"))) as f:
        shipped = f.read()
    with open(os.path.join(SOURCE, "scripts", "pccheckd.example.toml")) as f:
        assert shipped == f.read()


def test_installed_python_package_imports():
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        harness.skip("%s is not installed" % SYSTEM_PYTHON)
    destdir, _ = _installed()
    package = _installed_package()
    library = _under(destdir, _installed_path("/libpccheck.so.0"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PCCHECK_")}
    env.update(PYTHONPATH=os.path.dirname(package), PCCHECK_LIB=library)
    r = _run([SYSTEM_PYTHON, "-c",
              "import pccheck, pccheck.errors; print(pccheck.__file__); print(pccheck.version())"],
             env=env, cwd=tempfile.gettempdir())
    assert r.returncode == 0, "the installed package does not import:\n" + r.stdout
    where, version = r.stdout.split()[:2]
    assert where.startswith(package), "imported %s instead of the installed one" % where
    assert version == harness_project_version(), "libpccheck says version %s" % version


def harness_project_version():
    with open(os.path.join(SOURCE, "meson.build")) as f:
        return re.search(r"version\s*:\s*'([^']+)'", f.read()).group(1)


def _doc_blocks(path, language):
    with open(os.path.join(SOURCE, path)) as f:
        text = f.read()
    return re.findall(r"^```%s\n(.*?)^```" % re.escape(language), text, re.S | re.M)


def test_trainer_examples_build_and_run():
    blocks = {lang: _doc_blocks("docs/trainers.md", lang) for lang in ("c", "cpp", "python")}
    assert blocks["c"] and blocks["cpp"] and blocks["python"], \
        "docs/trainers.md lost its C, C++ or Python example"
    work = tempfile.mkdtemp(prefix="pcc-doc-")
    # The public headers in the source tree: pccheck.h and pccheck/client.h,
    # and pccheck/status.h with the codes every floor speaks (common/base).
    # `meson install` puts them side by side under include/.
    includes = ["-I" + os.path.join(SOURCE, "client", "include"),
                "-I" + os.path.join(SOURCE, "common", "base", "include")]
    libdir = os.path.join(BUILD, "client")
    programs = []
    for lang, compiler, flags in (("c", "cc", ["-std=c11"]), ("cpp", "c++", ["-std=c++20"])):
        if shutil.which(compiler) is None:
            harness.skip("no %s to compile the %s examples" % (compiler, lang))
        for i, code in enumerate(blocks[lang]):
            src = os.path.join(work, "example%d.%s" % (i, "c" if lang == "c" else "cc"))
            with open(src, "w") as f:
                f.write(code)
            exe = src + ".bin"
            r = _run([compiler] + flags + ["-Wall", "-Wextra", "-Werror"] + includes + [src,
                                           "-L", libdir, "-Wl,-rpath," + libdir, "-lpccheck",
                                           "-o", exe])
            assert r.returncode == 0, "the %s example %d of docs/trainers.md does not build:\n%s" \
                % (lang, i, r.stdout[-3000:])
            programs.append(([exe], "%s example %d" % (lang, i)))
    for i, code in enumerate(blocks["python"]):
        compile(code, "docs/trainers.md python example %d" % i, "exec")  # at least it parses
    python = sys.executable
    try:
        import torch  # noqa: F401
        programs.append(([python, "-c", blocks["python"][0]], "python example 0"))
    except ImportError:
        print("(the Python example needs torch; %s has none: only parsed)" % python)

    with harness.Daemon() as daemon:
        env = harness.child_env()
        env["PCCHECK_SOCKET"] = daemon.socket
        for run in range(2):  # the second run resumes from what the first saved
            for cmd, name in programs:
                r = _run(cmd, env=env, cwd=work)
                assert r.returncode == 0, "%s (run %d) failed:\n%s\npccheckd:\n%s" % (
                    name, run + 1, r.stdout[-3000:], "".join(daemon.log[-20:]))
                assert "trained to step %d" % (50 * (run + 1)) in r.stdout, \
                    "%s (run %d) did not resume as expected:\n%s" % (name, run + 1, r.stdout)


if __name__ == "__main__":
    harness.main(globals())
