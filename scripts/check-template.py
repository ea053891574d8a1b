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
