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
"""
import argparse
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
JUNIT_REPORT = os.path.join(HERE, "junit_report.py")
RESULT_LINE = re.compile(r"^(PASS|FAIL|SKIP) ")
SKIP_LINE = re.compile(r"^SKIP .+: ")


class Runner:
    def __init__(self, logs, python):
        self.logs = logs
        self.python = python
        self.results = open(os.path.join(logs, "results.txt"), "a")
        self.counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}

    def record(self, line, details=()):
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
    def catch2(self, t, env):
        name = os.path.basename(t["cmd"][0])
        if not os.access(t["cmd"][0], os.X_OK):
            return self.record("SKIP %s: not built (%s)" % (name, t["cmd"][0]))
        cmd = list(t["cmd"])
        xml = os.path.join(self.logs, name + ".xml")
        if "-o" in cmd:
            cmd[cmd.index("-o") + 1] = xml
        else:
            cmd += ["-r", "junit", "-o", xml]
        if os.path.exists(xml):
            os.unlink(xml)
        names = os.path.join(self.logs, name + ".names")
        helptext = subprocess.run([cmd[0], "--help"], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True, env=env).stdout
        listing = ["--list-test-names-only"] if "--list-test-names-only" in helptext else [
            "--list-tests", "--verbosity", "quiet"]
        with open(names, "w") as f:
            subprocess.run([cmd[0]] + listing, stdout=f, stderr=subprocess.DEVNULL, env=env)
        log = os.path.join(self.logs, name + ".log")
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
    args = ap.parse_args()

    out = subprocess.run(["meson", "introspect", "--tests", args.build], stdout=subprocess.PIPE,
                         text=True)
    if out.returncode != 0:
        print("FAIL registry: meson introspect --tests %s failed" % args.build)
        print("0 passed, 1 failed")
        return 1
    tests = json.loads(out.stdout)
    for t in tests:
        # meson names a suite "<project>:<suite>".
        t["suites"] = [s.split(":")[-1] for s in t.get("suite", [])]
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
    return runner.summary()


if __name__ == "__main__":
    sys.exit(main())
