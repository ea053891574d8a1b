"""Decides whether a failed schemathesis pass failed only because of the emulator.

    attribute.py REPORT_JSON EMULATOR_FAULTS SERVER_ERRORS NETWORK_ERRORS WATCH_LOG

REPORT_JSON is schemathesis' JSON run report; the three record files are
written by the hooks in hooks.py; WATCH_LOG is the JSON log of the
`cargo lambda watch` server, where each function logs every request it
answered with its latency. Exits 0, naming what happened, when the pass may
be run again; exits 1, saying why, otherwise: then the failure is ours and
CI fails. A pass may run again only when

- every 5xx it saw was the emulator's own answer (see hooks.py), and every
  failure is that answer's server error (ST101) or undocumented `text/plain`
  type (ST105) on an operation where the emulator failed;
- any errors are at most MAX_HANGS network errors, each one the hooks saw,
  while every request the functions answered took under SLOW_MS. A function
  of ours that hung would block its only instance (the emulator runs one per
  function), so every later request to it would time out as well;
- the emulator failed at least once in one of those two ways.

Nothing is waived: a pass counts only if it finishes with zero failures.
"""

import json
import re
import sys

EMULATOR_CHECKS = {"ST101", "ST105"}
MAX_HANGS = 2
#: The functions' database budget (DB_TIMEOUT_MS) is 5 s; schemathesis waits 10 s.
SLOW_MS = 5000


def lines(path):
    try:
        with open(path, encoding="utf-8") as f:
            return [line.strip() for line in f if line.strip()]
    except FileNotFoundError:
        return []


def slowest_answer_ms(log_lines):
    """The largest `latency_ms` a function logged, from JSON log lines."""
    slowest = 0.0
    for line in log_lines:
        if not line.startswith("{"):
            continue
        try:
            latency = json.loads(line).get("fields", {}).get("latency_ms")
        except ValueError:
            continue
        if latency is not None:
            slowest = max(slowest, float(latency))
    return slowest


def template_matches(template, method, path):
    """"GET /api/tasks/{id}" against a concrete method and path."""
    t_method, t_path = template.split(" ", 1)
    pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(t_path)) + "$"
    return t_method == method and re.match(pattern, path) is not None


def verdict(report, faults, server_errors, hangs=(), slowest_ms=0.0):
    if not report.get("complete"):
        return "the run did not complete"
    errors = report.get("errors", [])
    if any(error["title"] != "Network Error" for error in errors):
        return "errors other than network errors: " + ", ".join(error["title"] for error in errors)
    error_count = sum(error["count"] for error in errors)
    if error_count > MAX_HANGS:
        return f"{error_count} network errors: more than the emulator's occasional hang"
    if error_count > len(hangs):
        return "a network error the hooks did not see"
    if error_count and slowest_ms >= SLOW_MS:
        return f"a function took {slowest_ms:.0f} ms, so a timeout may be ours"
    if server_errors:
        return "5xx answers that are not the emulator's own:\n  " + "\n  ".join(server_errors)
    if not faults and not error_count:
        return "no emulator fault was seen"
    seen = []
    for fault in faults:
        method, url = fault.split(" ", 2)[:2]
        path = re.sub(r"^[a-z]+://[^/]+", "", url).split("?", 1)[0]
        seen.append((method, path))
    for failure in report.get("failures", []):
        if failure["code"] not in EMULATOR_CHECKS:
            return f"{failure['code']} {failure['title']} on {failure['operations']}"
        for operation in failure["operations"]:
            if not any(template_matches(operation, m, p) for m, p in seen):
                return f"{failure['code']} {failure['title']} on {operation}, where the emulator did not fail"
    return None


def main():
    report_path, faults_path, errors_path, hangs_path, watch_log = sys.argv[1:6]
    try:
        with open(report_path, encoding="utf-8") as f:
            report = json.load(f)
    except FileNotFoundError:
        print("schemathesis wrote no report: it did not get to run (see above)", file=sys.stderr)
        return 1
    faults, hangs = lines(faults_path), lines(hangs_path)
    reason = verdict(report, faults, lines(errors_path), hangs, slowest_answer_ms(lines(watch_log)))
    if reason:
        print(f"schemathesis found a defect: {reason}", file=sys.stderr)
        return 1
    print("failed only on cargo lambda watch's own faults (see tests/schemathesis/hooks.py):")
    for fault in faults:
        print(f"  500 from the emulator: {fault}")
    for hang in hangs:
        print(f"  no answer within the timeout: {hang}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
