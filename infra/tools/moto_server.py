#!/usr/bin/env python3
"""moto's server for the Terraform tests (scripts/terraform-tests.sh), with one correction.

    moto_server.py PORT

moto enforces a bucket policy's statements on object requests, but evaluates only the StringEquals
condition operator and ignores the others: a statement whose condition it cannot read applies as if
it had none. Every bucket here has `DenyInsecureTransport` (Deny s3:* when aws:SecureTransport is
false, a Bool condition), so moto denies every PutObject and GetObject on them, over TLS or not, which
no AWS account does. This server treats such a statement as not applying (moto's own answer for a
statement that does not concern the request), and still applies every statement moto can evaluate.
What the files bucket's SSE-KMS statements require is checked on the stored object by
infra/tools/serve_on_state.py instead. docs/deploy-aws.md lists this with moto's other gaps.
"""

from __future__ import annotations

import sys

from moto.iam import access_control
from moto.iam.policy_conditions import CONDITION_OPERATIONS

_original = access_control.IAMPolicyStatement.is_action_permitted


def _is_action_permitted(self, action, resource="*", principal=None, incoming_condition_values=None):
    conditions = self._statement.get("Condition") or {}
    if any(operator not in CONDITION_OPERATIONS for operator in conditions):
        return access_control.PermissionResult.NEUTRAL
    return _original(self, action, resource, principal, incoming_condition_values)


access_control.IAMPolicyStatement.is_action_permitted = _is_action_permitted


def main() -> None:
    from werkzeug.serving import run_simple
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

    app = DomainDispatcherApplication(create_backend_app)
    run_simple("127.0.0.1", int(sys.argv[1]), app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
