#!/usr/bin/env python3
"""Runs the tests registered with meson (`meson introspect --tests`), one after
another, and prints one line per test case:

    PASS name
    FAIL name            (followed by a few indented lines saying why)
    SKIP name: reason

then exactly one line "N passed, N failed" (", N skipped" when any were).
Every line is also appended to <logs>/results.txt. Exit status 1 when any
test failed.

How a test's results are read is its suite (tests/meson.build):
  catch2   a Catch2 binary; its JUnit report gives one result per test case
  pytest   a Python test file; pytest's JUnit report gives one result per test
           (without pytest: the file as a plain script, printing PASS/FAIL/SKIP lines)
  program  exit 0 passes, 77 skips, else fails; "SKIP name: reason" lines in
           its output are skipped tests
  fuzz     (with program) its first argument, the iteration count, is --fuzz-iterations

With --sanitizer KIND=BUILD (asan or tsan), the tests SANITIZED names run again
from that build's own registry, their lines prefixed "asan: " or "tsan: ".
Every sanitized process (test binaries, the pccheckd and pccheck they start)
writes its reports under <logs>/<kind>-<test>/; a test after which any report
exists fails, with the report's first lines.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
JUNIT_REPORT = os.path.join(HERE, "junit_report.py")
RESULT_LINE = re.compile(r"^(PASS|FAIL|SKIP) ")
SKIP_LINE = re.compile(r"^SKIP .+: ")

# What runs under each sanitizer: test name -> Catch2 test spec (None: all).
# ASan+UBSan: every suite of C++ tests. TSan: every one but the kill campaigns
# (crash), which kill processes from outside rather than race threads; ASan runs
# them.
SANITIZED = {
    "asan": {"tests": {"unit": None, "crash": None, "client": None, "daemon": None},
             "env": ["ASAN_OPTIONS", "UBSAN_OPTIONS"],
             "options": "print_stacktrace=1:halt_on_error=0:detect_leaks=1"},
    "tsan": {"tests": {"unit": None, "client": None, "daemon": None},
             "env": ["TSAN_OPTIONS"],
             "options": "halt_on_error=0:second_deadlock_stack=1"},
}


class Runner:
    def __init__(self, logs, python):
        self.logs = logs
        self.python = python
        self.results = open(os.path.join(logs, "results.txt"), "a")
        self.counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
        self.prefix = ""  # "asan: " while a sanitizer build's tests run

    def record(self, line, details=()):
        if self.prefix:
            line = line[:5] + self.prefix + line[5:]
        print(line, flush=True)
        for d in details:
            print("    " + d, flush=True)
        self.results.write(line + "\n")
        self.results.flush()
        self.counts[line[:4]] += 1

    def report_lines(self, text, show_details=True):
        """Records the PASS/FAIL/SKIP lines of text, printing the indented details under them."""
        for line in text.splitlines():
            if RESULT_LINE.match(line):
                self.record(line)
            elif show_details and line.startswith("    "):
                print(line, flush=True)

    def run(self, cmd, env, timeout, log, cwd=None):
        """Runs cmd with its output to log; the exit status, or 'timeout'."""
        with open(log, "w") as out:
            try:
                p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
            except OSError as e:
                out.write("cannot run %s: %s\n" % (cmd[0], e))
                return 127
            try:
                return p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, 9)
                except OSError:
                    pass
                p.wait()
                return "timeout"

    def tail(self, log, n=8):
        try:
            with open(log, errors="replace") as f:
                return [line.rstrip("\n") for line in f.readlines()[-n:]]
        except OSError:
            return []

    def junit(self, xml, log, extra):
        r = subprocess.run([sys.executable, JUNIT_REPORT, xml, "--log", log] + extra,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        return r.stdout if r.returncode == 0 else None

    # ---- the kinds -------------------------------------------------------------------
    def catch2(self, t, env, spec=None):
        name = os.path.basename(t["cmd"][0])
        if not os.access(t["cmd"][0], os.X_OK):
            return self.record("SKIP %s: not built (%s)" % (name, t["cmd"][0]))
        cmd = list(t["cmd"])
        if spec:
            cmd += ["-#", spec]
        # A sanitizer build's files: asan-unit_tests.xml beside unit_tests.xml.
        base = (self.prefix.rstrip(": ") + "-" if self.prefix else "") + name
        xml = os.path.join(self.logs, base + ".xml")
        if "-o" in cmd:
            cmd[cmd.index("-o") + 1] = xml
        else:
            cmd += ["-r", "junit", "-o", xml]
        if os.path.exists(xml):
            os.unlink(xml)
        names = os.path.join(self.logs, base + ".names")
        helptext = subprocess.run([cmd[0], "--help"], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True, env=env).stdout
        listing = ["--list-test-names-only"] if "--list-test-names-only" in helptext else [
            "--list-tests", "--verbosity", "quiet"]
        with open(names, "w") as f:
            subprocess.run([cmd[0]] + listing, stdout=f, stderr=subprocess.DEVNULL, env=env)
        log = os.path.join(self.logs, base + ".log")
        rc = self.run(cmd, env, t["timeout"], log, t.get("workdir"))
        report = self.junit(xml, log, ["--names", names])
        if report is None:
            why = "timed out after %ss" % t["timeout"] if rc == "timeout" else "exit status %s" % rc
            return self.record("FAIL %s: wrote no test report (%s); the end of %s:" % (name, why, log),
                               self.tail(log))
        self.report_lines(report)
        if rc != 0 and "\nFAIL " not in "\n" + report:
            self.record("FAIL %s: exited with status %s although no test case failed; the end of %s:"
                        % (name, rc, log), self.tail(log))

    def program(self, t, env, fuzz_iterations):
        name = t["name"]
        cmd = list(t["cmd"])
        if "fuzz" in t["suites"] and len(cmd) > 1:
            cmd[1] = str(fuzz_iterations)
        if not os.access(cmd[0], os.X_OK):
            return self.record("SKIP %s: not built (%s)" % (name, cmd[0]))
        log = os.path.join(self.logs, name + ".log")
        rc = self.run(cmd, env, t["timeout"], log, t.get("workdir"))
        with open(log, errors="replace") as f:
            output = f.read()
        skips = [l for l in output.splitlines() if SKIP_LINE.match(l)]
        if rc == 0:
            if skips:
                for l in skips:
                    self.record(l)
            else:
                self.record("PASS " + name)
        elif rc == 77:
            last = (output.strip().splitlines() or ["skipped"])[-1]
            self.record("SKIP %s: %s" % (name, last[len("SKIP %s: " % name):] if last.startswith(
                "SKIP %s: " % name) else last))
        elif rc == "timeout":
            self.record("FAIL %s: timed out after %ss; the end of %s:" % (name, t["timeout"], log),
                        self.tail(log))
        else:
            self.record("FAIL %s: exit status %s; the end of %s:" % (name, rc, log), self.tail(log))

    def pytest(self, t, env, have_pytest):
        script = t["cmd"][-1]
        name = os.path.basename(script)
        if not os.path.exists(script):
            return self.record("FAIL %s: %s does not exist" % (name, script))
        if have_pytest:
            xml = os.path.join(self.logs, "py-%s.xml" % name)
            log = os.path.join(self.logs, "py-%s.log" % name)
            if os.path.exists(xml):
                os.unlink(xml)
            rc = self.run([self.python, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--junitxml=" + xml, script], env, t["timeout"], log, t.get("workdir"))
            if rc == 5:
                return self.record("SKIP %s: no tests collected" % name)
            report = self.junit(xml, log, ["--pytest"])
            if report is None:
                return self.record("FAIL %s: pytest wrote no report (exit status %s); the end of %s:"
                                   % (name, rc, log), self.tail(log))
            return self.report_lines(report)
        # As a plain script: each prints a PASS/FAIL/SKIP line per test (details
        # indented under FAIL) and exits 0, 77 when all skipped, else non-zero.
        log = os.path.join(self.logs, "py-%s.log" % name)
        rc = self.run([self.python, script], env, t["timeout"], log, t.get("workdir"))
        with open(log, errors="replace") as f:
            output = f.read()
        has_lines = any(RESULT_LINE.match(l) for l in output.splitlines())
        if rc == "timeout":
            self.report_lines(output, show_details=False)
            self.record("FAIL %s: timed out after %ss; the end of %s:" % (script, t["timeout"], log),
                        self.tail(log))
        elif has_lines and (rc in (0, 77) or "\nFAIL " in "\n" + output):
            self.report_lines(output)
        elif rc == 0:
            self.record("PASS " + script)
        elif rc == 77:
            self.record("SKIP %s: %s" % (script, (output.strip().splitlines() or ["skipped"])[-1]))
        else:
            self.record("FAIL %s: exit status %s (%s); the end of %s:" % (script, rc, self.python, log),
                        self.tail(log))

    def sanitized(self, kind, build, tests):
        """Runs SANITIZED[kind]'s tests from `tests` (build's registry), each with
        its sanitizer's reports going to a folder of its own."""
        plan = SANITIZED[kind]
        self.prefix = kind + ": "
        by_name = {t["name"]: t for t in tests}
        for name, spec in plan["tests"].items():
            t = by_name.get(name)
            if t is None:
                self.record("FAIL %s: not registered in %s" % (name, build))
                continue
            reports = os.path.join(self.logs, "%s-%s" % (kind, name))
            shutil.rmtree(reports, ignore_errors=True)
            os.makedirs(reports)
            os.chmod(reports, 0o1777)  # tests run children as other users
            env = dict(os.environ)
            env.update(t.get("env") or {})
            for var in plan["env"]:
                env[var] = "log_path=%s/report:%s" % (reports, plan["options"])
            failed_before = self.counts["FAIL"]
            self.catch2(t, env, spec)
            found = sorted(os.listdir(reports))
            if found:
                first = os.path.join(reports, found[0])
                self.record("FAIL %s: %d sanitizer report(s) in %s; the first, %s:"
                            % (name, len(found), reports, found[0]), self.head(first))
            elif self.counts["FAIL"] == failed_before:
                shutil.rmtree(reports, ignore_errors=True)
        self.prefix = ""

    def head(self, path, n=12):
        try:
            with open(path, errors="replace") as f:
                return [line.rstrip("\n") for line in f.readlines()[:n]]
        except OSError:
            return []

    def summary(self):
        line = "%d passed, %d failed" % (self.counts["PASS"], self.counts["FAIL"])
        if self.counts["SKIP"]:
            line += ", %d skipped" % self.counts["SKIP"]
        print(line, flush=True)
        return 1 if self.counts["FAIL"] else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--logs", required=True)
    ap.add_argument("--python", default="python3", help="the interpreter for the pytest suite")
    ap.add_argument("--fuzz-iterations", type=int, default=20000)
    ap.add_argument("--list", action="store_true", help="print the registered tests and exit")
    ap.add_argument("--sanitizer", action="append", default=[], metavar="KIND=BUILD",
                    help="also run SANITIZED[KIND]'s tests from BUILD (asan, tsan)")
    ap.add_argument("--sanitizer-build-failed", action="append", default=[], metavar="KIND=LOG",
                    help="KIND's build failed, as LOG says: one failure")
    ap.add_argument("--sanitizer-skipped", action="append", default=[], metavar="KIND=REASON",
                    help="report KIND's tests as skipped, for REASON")
    args = ap.parse_args()

    tests = registry(args.build)
    if tests is None:
        print("FAIL registry: meson introspect --tests %s failed" % args.build)
        print("0 passed, 1 failed")
        return 1
    if args.list:
        for t in tests:
            print("%-24s %s" % (t["name"], " ".join(t["suites"])))
        return 0

    os.makedirs(args.logs, exist_ok=True)
    runner = Runner(args.logs, args.python)
    have_pytest = subprocess.run([args.python, "-c", "import pytest"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL).returncode == 0
    for t in tests:
        env = dict(os.environ)
        env.update(t.get("env") or {})
        if "catch2" in t["suites"]:
            runner.catch2(t, env)
        elif "pytest" in t["suites"]:
            runner.pytest(t, env, have_pytest)
        elif "program" in t["suites"]:
            runner.program(t, env, args.fuzz_iterations)
        else:
            runner.record("FAIL %s: registered without a kind suite (catch2, pytest or program) "
                          "in tests/meson.build" % t["name"])
    for arg in args.sanitizer:
        kind, _, build = arg.partition("=")
        sanitized = registry(build)
        if kind not in SANITIZED or sanitized is None:
            runner.record("FAIL %s: no sanitizer build %s (meson introspect failed)" % (kind, build))
            continue
        runner.sanitized(kind, build, sanitized)
    for arg in args.sanitizer_build_failed:
        kind, _, log = arg.partition("=")
        runner.record("FAIL %s: the sanitizer build failed; the end of %s:" % (kind, log),
                      runner.tail(log, 12))
    for arg in args.sanitizer_skipped:
        kind, _, reason = arg.partition("=")
        for name in SANITIZED.get(kind, {}).get("tests", {}):
            runner.record("SKIP %s: %s: %s" % (kind, name, reason))
    return runner.summary()


def registry(build):
    """The tests meson registered in build, with their kind suites; None on failure."""
    out = subprocess.run(["meson", "introspect", "--tests", build], stdout=subprocess.PIPE,
                         text=True)
    if out.returncode != 0:
        return None
    tests = json.loads(out.stdout)
    for t in tests:
        # meson names a suite "<project>:<suite>".
        t["suites"] = [s.split(":")[-1] for s in t.get("suite", [])]
    return tests


if __name__ == "__main__":
    sys.exit(main())
