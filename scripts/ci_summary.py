"""`.ci/run`'s last words: each phase's duration and one line counting every
test the run ran, `N passed, N failed`.

Reads the run's whole output: cargo's `test result:` lines (Rust unit,
integration, end-to-end and fault tests), schemathesis's test-case counts,
the `ok   ...` / `not ok ...` lines of the browser tests and of the scripts'
own checks (`passed` in scripts/common.sh: configuration refusals, cargo
lambda invoke, make dev, the deployment checks, the benchmark's smoke run),
and the `Phases of ...` tables the scripts print. A run that stopped with a
failure no line counted adds one failed test: the step that stopped it.

Usage: ci_summary.py LOG EXIT_STATUS
"""

import re
import sys


def main():
    log, status = sys.argv[1], int(sys.argv[2])
    with open(log, errors="replace") as f:
        lines = [re.sub(r"\x1b\[[0-9;]*[A-Za-z]|\x1b\(B", "", line.rstrip("\n")) for line in f]
    passed = failed = 0
    phases = []
    in_phases = False
    for line in lines:
        cargo = re.match(r"test result: \w+\. (\d+) passed; (\d+) failed", line)
        schemathesis = re.match(r"\s+(\d+) generated, (\d+) passed(?:, (\d+) failed)?", line)
        if cargo:
            passed += int(cargo[1])
            failed += int(cargo[2])
        elif schemathesis:
            passed += int(schemathesis[2])
            failed += int(schemathesis[3] or 0)
        elif line.startswith("ok   "):
            passed += 1
        elif line.startswith("not ok"):
            failed += 1
        if line.startswith("Phases of "):
            in_phases = True
            phases.append(line)
        elif in_phases and re.match(r"\s*\d+  ", line):
            phases.append(line)
        else:
            in_phases = False
    if status != 0 and failed == 0:
        failed = 1
    print()
    print("\n".join(phases))
    print(f"{passed} passed, {failed} failed")


if __name__ == "__main__":
    main()
