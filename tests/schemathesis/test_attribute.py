"""When a failed schemathesis pass may run again (attribute.py), and when not.

Run by `make test`: python3 -m unittest discover -s tests/schemathesis
"""

import io
import sys
import unittest
from unittest import mock

from attribute import main, slowest_answer_ms, verdict
from hooks import EMULATOR_FAULT, is_emulator_fault

FAULT = "GET http://127.0.0.1:9000/api/tasks?limit=5 -> 500 text/plain; charset=utf-8"


HANG = "GET http://127.0.0.1:9000/api/tasks?limit=5"
NETWORK_ERROR = {"title": "Network Error", "count": 1}


def report(*failures, complete=True, errors=()):
    return {
        "complete": complete,
        "errors": list(errors),
        "failures": [
            {"code": code, "title": code, "operations": operations} for code, operations in failures
        ],
    }


class Verdict(unittest.TestCase):
    def test_only_the_emulator_fault_runs_again(self):
        self.assertIsNone(
            verdict(report(("ST101", ["GET /api/tasks"]), ("ST105", ["GET /api/tasks"])), [FAULT], [])
        )

    def test_a_fault_on_a_templated_path_matches_its_operation(self):
        fault = "DELETE http://127.0.0.1:9000/api/tasks/42 -> 500 text/plain; charset=utf-8"
        self.assertIsNone(verdict(report(("ST101", ["DELETE /api/tasks/{id}"])), [fault], []))

    def test_our_own_5xx_fails(self):
        ours = "GET http://127.0.0.1:9000/api/tasks -> 500 application/json"
        self.assertIn("not the emulator's own", verdict(report(("ST101", ["GET /api/tasks"])), [FAULT], [ours]))

    def test_any_other_check_fails(self):
        reason = verdict(report(("ST101", ["GET /api/tasks"]), ("ST202", ["POST /api/tasks"])), [FAULT], [])
        self.assertIn("ST202", reason)

    def test_a_server_error_where_the_emulator_did_not_fail_fails(self):
        reason = verdict(report(("ST101", ["POST /api/tasks"])), [FAULT], [])
        self.assertIn("where the emulator did not fail", reason)

    def test_a_failure_without_an_emulator_fault_fails(self):
        self.assertEqual(verdict(report(("ST101", ["GET /api/tasks"])), [], []), "no emulator fault was seen")

    def test_an_incomplete_run_fails(self):
        self.assertIsNotNone(verdict(report(complete=False), [FAULT], []))
        errors = [{"title": "Schema Error", "count": 1}]
        self.assertIn("other than network errors", verdict(report(errors=errors), [FAULT], []))

    def test_a_hang_while_the_functions_answered_fast_runs_again(self):
        self.assertIsNone(verdict(report(errors=[NETWORK_ERROR]), [], [], [HANG], slowest_ms=36.0))

    def test_a_hang_with_a_slow_function_fails(self):
        reason = verdict(report(errors=[NETWORK_ERROR]), [], [], [HANG], slowest_ms=9000.0)
        self.assertIn("may be ours", reason)

    def test_many_hangs_fail(self):
        errors = [{"title": "Network Error", "count": 3}]
        self.assertIn("3 network errors", verdict(report(errors=errors), [], [], [HANG] * 3, slowest_ms=1.0))

    def test_a_network_error_the_hooks_did_not_see_fails(self):
        self.assertIn("did not see", verdict(report(errors=[NETWORK_ERROR]), [], [], [], slowest_ms=1.0))

    def test_a_run_that_wrote_no_report_fails(self):
        argv = ["attribute.py", "/nonexistent/report.json", "-", "-", "-", "-"]
        with mock.patch.object(sys, "argv", argv), mock.patch.object(sys, "stderr", io.StringIO()) as err:
            self.assertEqual(main(), 1)
        self.assertIn("wrote no report", err.getvalue())


class SlowestAnswer(unittest.TestCase):
    def test_reads_the_functions_json_log_lines(self):
        log = [
            "    Running `target/debug/tasks-collection`",
            '{"level":"INFO","fields":{"message":"request","latency_ms":12.5}}',
            '{"level":"INFO","fields":{"message":"request","latency_ms":35.8}}',
            '{"level":"INFO","fields":{"message":"other"}}',
            "{not json",
        ]
        self.assertEqual(slowest_answer_ms(log), 35.8)


class EmulatorFault(unittest.TestCase):
    def test_only_the_exact_text_plain_body_is_the_emulators(self):
        self.assertTrue(is_emulator_fault(500, "text/plain; charset=utf-8", EMULATOR_FAULT))
        self.assertFalse(is_emulator_fault(500, "application/json", EMULATOR_FAULT))
        self.assertFalse(is_emulator_fault(502, "text/plain; charset=utf-8", EMULATOR_FAULT))
        our_500 = b'{"error":{"code":"INTERNAL_ERROR","message":"Internal server error"}}'
        self.assertFalse(is_emulator_fault(500, "text/plain; charset=utf-8", our_500))


if __name__ == "__main__":
    unittest.main()
