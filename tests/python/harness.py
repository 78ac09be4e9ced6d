"""Shared by the Python tests: where the repository and the build are, a
pccheckd run as a subprocess, the trainer child process, and a runner that
makes every test file a plain script too (pytest may not be installed).

skip() skips a test under pytest (pytest.skip) and as a script (SkipTest).
"""
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("PCCHECK_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("PCCHECK_BUILD_DIR") or os.path.join(SOURCE, "build")
PACKAGE = os.path.join(SOURCE, "client", "python")
TRAINER = os.path.join(HERE, "trainer.py")

if PACKAGE not in sys.path:
    sys.path.insert(0, PACKAGE)
os.environ.setdefault("PCCHECK_BUILD_DIR", BUILD)

SkipTest = unittest.SkipTest


def skip(reason):
    """Skips the running test (under pytest, and as a plain script)."""
    if "pytest" in sys.modules:
        import pytest
        pytest.skip(reason)
    raise SkipTest(reason)


def child_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE, env.get("PYTHONPATH")) if p)
    env["PCCHECK_BUILD_DIR"] = BUILD
    return env


def _supports_direct_io(directory):
    path = os.path.join(directory, ".direct-io-probe")
    try:
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | getattr(os, "O_DIRECT", 0), 0o600)
        os.close(fd)
        return True
    except OSError:
        return False
    finally:
        if os.path.exists(path):
            os.unlink(path)


def wait_until(done, timeout, what):
    """Calls done() until it returns true, pausing 1 ms doubling to 50 ms
    between calls; raises AssertionError naming `what` after `timeout`
    seconds. The Python side of tests/support's WaitUntil."""
    deadline = time.monotonic() + timeout
    pause = 0.001
    while not done():
        now = time.monotonic()
        if now >= deadline:
            raise AssertionError("gave up after %ss waiting until %s" % (timeout, what))
        time.sleep(min(pause, deadline - now))
        pause = min(pause * 2, 0.05)


def answers_status(socket):
    """Whether a pccheckd answers a status request on `socket`: the readiness
    signal tests/support's DaemonLauncher waits for (a kStatus request,
    here through libpccheck's pccheck_status_json)."""
    import pccheck
    try:
        pccheck.status(socket)
        return True
    except pccheck.PccheckError:
        return False


class Daemon:
    """pccheckd on a temporary root and socket (--pool 64MiB --chunk 1MiB).
    Its log is kept in memory (`log`) and in <dir>/pccheckd.log.

    Ready means it answers a status request on its socket, as for
    tests/support/daemon_launcher.h (which says why that signal)."""

    def __init__(self, directory=None, args=()):
        self.binary = os.path.join(BUILD, "daemon", "pccheckd")
        if not os.access(self.binary, os.X_OK):
            raise AssertionError("pccheckd is not built at %s (meson setup build && ninja -C "
                                 "build, or set PCCHECK_BUILD_DIR)" % self.binary)
        self._tmp = None
        if directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="pcc-py-")
            directory = self._tmp.name
        self.dir = directory
        self.root = os.path.join(directory, "root")
        self.socket = os.path.join(directory, "pccheckd.sock")
        self.args = list(args)
        self.proc = None
        self.log = []
        os.makedirs(self.root, exist_ok=True)
        self.direct_io = _supports_direct_io(self.root)

    def start(self, timeout=30):
        cmd = [self.binary, "--root", self.root, "--socket", self.socket, "--pool", "64MiB",
               "--chunk", "1MiB", "--direct-io", "true" if self.direct_io else "false"] + self.args
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, text=True)
        exited = threading.Event()
        threading.Thread(target=self._drain, args=(self.proc, exited), daemon=True).start()
        try:
            wait_until(lambda: exited.is_set() or answers_status(self.socket), timeout,
                       "pccheckd answers on " + self.socket)
        except AssertionError as e:
            self.stop()
            raise AssertionError("pccheckd did not start (%s); its log:\n%s"
                                 % (e, "".join(self.log[-20:])))
        if exited.is_set() or self.proc.poll() is not None:
            self.stop()
            raise AssertionError("pccheckd exited at start; its log:\n" + "".join(self.log[-20:]))
        return self

    def _drain(self, proc, exited):
        with open(os.path.join(self.dir, "pccheckd.log"), "a") as f:
            for line in proc.stdout:
                self.log.append(line)
                f.write(line)
                f.flush()
        exited.set()

    def kill(self):
        """SIGKILL, as a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def wait_idle(self, timeout=60):
        """Returns once the daemon has no checkpoint in flight."""
        import pccheck
        wait_until(lambda: not pccheck.status(self.socket).get("inflight"), timeout,
                   "pccheckd has no checkpoint in flight")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()


class Trainer:
    """tests/python/trainer.py (or another script) as a child process whose
    output lines are read as they come."""

    def __init__(self, *args, script=TRAINER):
        self.proc = subprocess.Popen([sys.executable, script] + [str(a) for a in args],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.PIPE, text=True, env=child_env())
        self.lines = []

    @classmethod
    def script(cls, path, *args):
        return cls(*args, script=path)

    def wait_for(self, prefix, timeout=300):
        """The first line starting with prefix (reading on); fails when the
        child exits first."""
        deadline = time.monotonic() + timeout
        for line in self.proc.stdout:
            self.lines.append(line)
            if line.startswith(prefix):
                return line.strip()
            if time.monotonic() > deadline:
                break
        self.kill()
        raise AssertionError("the trainer never printed %r; its output:\n%s"
                             % (prefix, "".join(self.lines[-30:])))

    def finish(self, timeout=300):
        """Waits for a clean exit; returns the output."""
        out, _ = self.proc.communicate(timeout=timeout)
        self.lines.append(out)
        if self.proc.returncode != 0:
            raise AssertionError("the trainer exited with status %d; its output:\n%s"
                                 % (self.proc.returncode, "".join(self.lines)[-4000:]))
        return "".join(self.lines)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def run(*args, timeout=300):
    """Runs trainer.py to the end; returns its output."""
    return Trainer(*args).finish(timeout)


def assert_same_state(a, b):
    """Bit-for-bit equality of two saved trainer states (trainer.py --out)."""
    import torch
    assert a["model"].keys() == b["model"].keys(), (a["model"].keys(), b["model"].keys())
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), "model tensor %s differs" % k
    sa, sb = a["optim"]["state"], b["optim"]["state"]
    assert sa.keys() == sb.keys(), (sa.keys(), sb.keys())
    for i in sa:
        assert sa[i].keys() == sb[i].keys()
        for k in sa[i]:
            va, vb = sa[i][k], sb[i][k]
            same = torch.equal(va, vb) if isinstance(va, torch.Tensor) else va == vb
            assert same, "optimizer state %s/%s differs: %r vs %r" % (i, k, va, vb)
    assert a["optim"]["param_groups"] == b["optim"]["param_groups"]


def main(namespace):
    """Runs the test_* functions of a module as a script: one PASS/FAIL/SKIP
    line each; exits 1 when one failed, 77 when all were skipped."""
    module = os.path.splitext(os.path.basename(namespace["__file__"]))[0]
    tests = [(n, f) for n, f in namespace.items() if n.startswith("test_") and callable(f)]
    failed = skipped = 0
    for name, fn in tests:
        try:
            fn()
            print("PASS %s.%s" % (module, name), flush=True)
        except SkipTest as e:
            skipped += 1
            print("SKIP %s.%s: %s" % (module, name, e), flush=True)
        except Exception:
            failed += 1
            print("FAIL %s.%s" % (module, name), flush=True)
            for line in traceback.format_exc().rstrip().splitlines():
                print("    " + line, flush=True)
    if failed:
        sys.exit(1)
    sys.exit(77 if tests and skipped == len(tests) else 0)
