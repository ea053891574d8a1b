"""Decides whether a failed schemathesis pass failed only because of the emulator.

    attribute.py REPORT_JSON EMULATOR_FAULTS SERVER_ERRORS

REPORT_JSON is schemathesis' JSON run report; the two files are written by
the after_call hook in hooks.py. Exits 0, naming the faults, when the pass
may be run again: it completed without errors, every 5xx it saw was the
emulator's own (see hooks.py), and every failure is a server error (ST101)
or the undocumented `text/plain` type of that same answer (ST105), on an
operation where the emulator failed. Exits 1, saying why, otherwise: then
the failure is ours and CI fails.

Nothing is waived: a pass counts only if it finishes with zero failures.
"""

import json
import re
import sys

EMULATOR_CHECKS = {"ST101", "ST105"}


def lines(path):
    try:
        with open(path, encoding="utf-8") as f:
            return [line.strip() for line in f if line.strip()]
    except FileNotFoundError:
        return []


def template_matches(template, method, path):
    """"GET /api/tasks/{id}" against a concrete method and path."""
    t_method, t_path = template.split(" ", 1)
    pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(t_path)) + "$"
    return t_method == method and re.match(pattern, path) is not None


def verdict(report, faults, server_errors):
    if not report.get("complete") or report.get("errors"):
        return "the run did not complete cleanly"
    if server_errors:
        return "5xx answers that are not the emulator's own:\n  " + "\n  ".join(server_errors)
    if not faults:
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
    report_path, faults_path, errors_path = sys.argv[1:4]
    try:
        with open(report_path, encoding="utf-8") as f:
            report = json.load(f)
    except FileNotFoundError:
        print("schemathesis wrote no report: it did not get to run (see above)", file=sys.stderr)
        return 1
    faults = lines(faults_path)
    reason = verdict(report, faults, lines(errors_path))
    if reason:
        print(f"schemathesis found a defect: {reason}", file=sys.stderr)
        return 1
    print("failed only on cargo lambda watch's own 500 (see tests/schemathesis/hooks.py):")
    for fault in faults:
        print(f"  {fault}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
