"""What SAM makes of template.yaml's HTTP API, checked offline.

SAM turns the HttpApi's CorsConfiguration and the functions' events into the
API's OpenAPI body; this runs that same transform (samtranslator, which
cfn-lint brings) and checks the result: the CORS configuration arrives whole
(every origin of FrontendUrl, the contract's headers), and unknown paths go
to the fallback function through a $default route. An intrinsic in the wrong
place (an AllowOrigins !Split straight in CorsConfiguration) passes
cfn-lint and sam validate, and silently drops every other CORS setting.
"""

import json
import os
import sys

from cfnlint.decode import decode
from samtranslator.translator.transform import transform

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
ORIGINS = "https://app.example.com,http://localhost:3000"


class NoManagedPolicies:
    def load(self):
        return {}


template, errors = decode("template.yaml")
if errors:
    sys.exit(f"template.yaml: {errors}")
# The transform wants an S3 CodeUri; sam build supplies it in real life.
template["Globals"]["Function"]["CodeUri"] = "s3://bucket/key"
output = transform(template, {"FrontendUrl": ORIGINS}, NoManagedPolicies())
body = output["Resources"]["HttpApi"]["Properties"]["Body"]

cors = body["x-amazon-apigateway-cors"]
condition, cors, _ = cors["Fn::If"]
assert condition == "HasFrontendUrl", condition
expected = {
    "allowOrigins": {"Fn::Split": [",", ORIGINS]},
    "allowMethods": ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"],
    "allowHeaders": ["Content-Type", "Authorization", "Idempotency-Key"],
    "exposeHeaders": ["Location", "Retry-After", "Idempotent-Replayed", "WWW-Authenticate"],
    "allowCredentials": False,
    "maxAge": 600,
}
assert cors == expected, json.dumps(cors, indent=2)

default = body["paths"]["$default"]["x-amazon-apigateway-any-method"]
uri = json.dumps(default["x-amazon-apigateway-integration"]["uri"])
assert "${DocsFunction.Arn}" in uri, uri
print("SAM's transform: CORS whole (origins, methods, headers), $default to DocsFunction")

# Operations (#13): the stage logs every request to its own group, with
# per-route metrics; every function is traced, logs JSON, and leaves out
# Lambda's platform lines (WARN: the request's own line says what REPORT
# told, at less than half the bytes; BENCHMARKS.md);
# the task functions are held to ReservedConcurrency; the custom domain maps
# onto the stage SAM makes.
resources = output["Resources"]
stage = resources["HttpApiApiGatewayDefaultStage"]["Properties"]
assert stage["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": ["AccessLogGroup", "Arn"]}, stage
for field in ["requestId", "routeKey", "status", "integrationError", "latency", "integrationLatency"]:
    assert f'"{field}":' in stage["AccessLogSettings"]["Format"], field
assert stage["DefaultRouteSettings"]["DetailedMetricsEnabled"] is True, stage
functions = {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
assert len(functions) == 5, functions.keys()
for name, function in functions.items():
    assert function["TracingConfig"] == {"Mode": "Active"}, name
    assert function["LoggingConfig"]["SystemLogLevel"] == "WARN", name
    assert function["LoggingConfig"]["ApplicationLogLevel"] == "INFO", name
    assert function["LoggingConfig"]["LogFormat"] == "JSON", name
for name in ["TasksCollectionFunction", "TasksItemFunction"]:
    reserved = functions[name]["ReservedConcurrentExecutions"]
    assert reserved == {"Fn::If": ["HasReservedConcurrency", {"Ref": "ReservedConcurrency"}, {"Ref": "AWS::NoValue"}]}, reserved
# The public /health: a small cap of its own (a burst of unauthenticated
# requests must not scale out), 0 for none.
reserved = functions["HealthFunction"].get("ReservedConcurrentExecutions")
assert reserved == {"Fn::If": ["HasHealthReservedConcurrency", {"Ref": "HealthReservedConcurrency"}, {"Ref": "AWS::NoValue"}]}, reserved
# The defaults follow the capacity model (docs/deploy.md, Capacity): through
# Neon's pooled endpoint a container is a pooler client (10,000 of them),
# so the task functions are not capped; /health keeps its few.
parameters = template["Parameters"]
assert parameters["ReservedConcurrency"]["Default"] == 0, parameters["ReservedConcurrency"]
assert "direct endpoint" in parameters["ReservedConcurrency"]["Description"]
assert 1 <= parameters["HealthReservedConcurrency"]["Default"] <= 10, parameters["HealthReservedConcurrency"]
mapping = resources["CustomDomainMapping"]
assert mapping["Condition"] == "HasCustomDomain" and "HttpApiApiGatewayDefaultStage" in str(mapping["DependsOn"]), mapping
print("SAM's transform: access log, per-route metrics, tracing, JSON logs without platform lines, reserved concurrency (health's its own), custom domain")

# The alarms, each sent to the AlarmEmail topic when there is one.
alarms = {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
notify = {"Fn::If": ["HasAlarmEmail", [{"Ref": "AlarmTopic"}], {"Ref": "AWS::NoValue"}]}
for name, alarm in alarms.items():
    assert alarm["AlarmActions"] == notify and alarm["TreatMissingData"] == "notBreaching", name
    assert alarm.get("Period", 300) * alarm["EvaluationPeriods"] >= 300, name


def metrics_of(alarm):
    if "Metrics" in alarm:
        return {(json.dumps(q["MetricStat"]["Metric"]["Namespace"]), q["MetricStat"]["Metric"]["MetricName"])
                for q in alarm["Metrics"] if "MetricStat" in q}
    return {(json.dumps(alarm["Namespace"]), alarm["MetricName"])}


seen = {name: metrics_of(alarm) for name, alarm in alarms.items()}
assert seen["ServerErrorRateAlarm"] == {('"AWS/ApiGateway"', "5xx"), ('"AWS/ApiGateway"', "Count")}
assert seen["ThrottlesAlarm"] == {('"AWS/Lambda"', "Throttles")}
# The namespace the functions write their EMF metrics to (METRICS_NAMESPACE).
namespace = json.dumps({"Fn::Sub": "TodoApi/${AWS::StackName}"})
assert seen["DatabaseUnavailableAlarm"] == {(namespace, "DatabaseUnavailable")}, seen
for name, function in functions.items():
    assert json.dumps(function["Environment"]["Variables"]["METRICS_NAMESPACE"]) == namespace, name
routes = sorted(d["Value"] for name in ["TasksLatencyAlarm", "TaskLatencyAlarm", "TaskCompleteLatencyAlarm"]
                for d in alarms[name]["Dimensions"] if d["Name"] == "Route")
assert routes == ["ANY /api/tasks", "ANY /api/tasks/{id}", "ANY /api/tasks/{id}/complete"], routes
for name in ["TasksLatencyAlarm", "TaskLatencyAlarm", "TaskCompleteLatencyAlarm"]:
    assert alarms[name]["ExtendedStatistic"] == "p99", name
topic = resources["AlarmSubscription"]
assert topic["Condition"] == "HasAlarmEmail" and resources["AlarmTopic"]["Condition"] == "HasAlarmEmail"
print(f"{len(alarms)} alarms: 5xx rate, p99 latency per task route, throttles, DatabaseUnavailable")
