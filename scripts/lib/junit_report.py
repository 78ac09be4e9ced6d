#!/usr/bin/env python3
"""Turns a JUnit XML report (Catch2 2 or 3, pytest) into one line per test case.

    PASS name
    FAIL name            (followed by a few indented lines saying what failed)
    SKIP name: reason

Catch2 reports each leaf section as its own <testcase> named "Case/Section";
with --names (the binary's list of test case names) those are folded back
into their test case. Lines "SKIP name: reason" in --log (the program's
console output) mark that test case skipped: the way a test binary without
SKIP() support (Catch2 2) says it found no GPU. Exit status 2 when the report
is missing or unreadable (the program crashed before writing it).
"""
import argparse
import re
import sys
import xml.etree.ElementTree as ET

SKIP_LINE = re.compile(r"^SKIP (.+?): (.*)$")
MAX_DETAIL_LINES = 8


def case_name(element, pytest_style):
    name = element.get("name", "?")
    classname = element.get("classname", "")
    if pytest_style and classname:
        return classname + "::" + name
    return name


def group_name(name, case_names):
    best = None
    for c in case_names:
        if (name == c or name.startswith(c + "/")) and (best is None or len(c) > len(best)):
            best = c
    return best or name


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("xml")
    ap.add_argument("--names", help="file with one test case name per line")
    ap.add_argument("--log", help="console output to scan for 'SKIP name: reason' lines")
    ap.add_argument("--pytest", action="store_true", help="name cases classname::name")
    args = ap.parse_args()

    try:
        root = ET.parse(args.xml).getroot()
    except (OSError, ET.ParseError) as e:
        print(f"junit_report: cannot read {args.xml}: {e}", file=sys.stderr)
        return 2

    case_names = []
    if args.names:
        with open(args.names, encoding="utf-8", errors="replace") as f:
            case_names = [line.strip() for line in f if line.strip()]

    # name -> {"status": PASS|FAIL|SKIP, "details": [...], "reason": str}
    results = {}
    for tc in root.iter("testcase"):
        name = group_name(case_name(tc, args.pytest), case_names)
        r = results.setdefault(name, {"status": "PASS", "details": [], "reason": ""})
        problems = list(tc.iter("failure")) + list(tc.iter("error"))
        skipped = list(tc.iter("skipped"))
        if problems:
            r["status"] = "FAIL"
            for p in problems:
                text = (p.get("message", "") + "\n" + (p.text or "")).strip()
                r["details"] += [line for line in text.splitlines() if line.strip()]
        elif skipped and r["status"] != "FAIL":
            r["status"] = "SKIP"
            r["reason"] = skipped[0].get("message", "") or (skipped[0].text or "").strip()

    # SKIP lines: in the console output, or in what the reporter captured from std::cout.
    console = [so.text or "" for so in root.iter("system-out")]
    if args.log:
        with open(args.log, encoding="utf-8", errors="replace") as f:
            console.append(f.read())
    for text in console:
        for line in text.splitlines():
            m = SKIP_LINE.match(line.strip())
            if not m:
                continue
            r = results.setdefault(m.group(1), {"status": "PASS", "details": [], "reason": ""})
            if r["status"] != "FAIL":
                r["status"], r["reason"] = "SKIP", m.group(2)

    for name, r in results.items():
        if r["status"] == "SKIP":
            print(f"SKIP {name}: {r['reason'] or 'skipped'}")
        else:
            print(f"{r['status']} {name}")
            for line in r["details"][:MAX_DETAIL_LINES]:
                print("    " + line.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
