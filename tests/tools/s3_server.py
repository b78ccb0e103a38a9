"""A real S3 API server for the data-tier tests: moto's server on loopback, plus a small control
endpoint that ages objects (sets their LastModified) so retention can be tested.

Run with the python of the s3-tools virtualenv (tests/tools/s3-tools.sh):

    python s3_server.py S3_PORT CONTROL_PORT

then ``POST http://127.0.0.1:CONTROL_PORT/age`` with ``{"bucket": B, "key": K, "days": D}``
sets the object's LastModified to D days ago. The tests' own client calls go through
``POST /s3`` with ``{"op": create|put|get|list|delete, "bucket": B, "key": K, "data": base64,
"prefix": P}`` (boto3 in this process, against the S3 server), so the test process needs no AWS
SDK. Prints ``ready`` when both listen.
"""

from __future__ import annotations

import base64
import json
import sys
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _buckets() -> list[Any]:
    from moto.s3.models import s3_backends  # type: ignore[import-not-found, unused-ignore]

    found = []
    for account in s3_backends.values():
        for backend in account.values():
            found.extend(backend.buckets.values())
    return found


def age(bucket_name: str, key_name: str, days: float) -> int:
    """Set LastModified of every version of the object; returns how many were changed."""
    when = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=days)
    changed = 0
    for bucket in _buckets():
        if bucket.name != bucket_name:
            continue
        for version in bucket.keys.getlist(key_name, []):
            version.last_modified = when
            changed += 1
    return changed


def client_call(s3: Any, body: dict[str, Any]) -> dict[str, Any]:
    op, bucket = body["op"], body["bucket"]
    if op == "create":
        s3.create_bucket(Bucket=bucket)
    elif op == "put":
        s3.put_object(Bucket=bucket, Key=body["key"], Body=base64.b64decode(body["data"]))
    elif op == "get":
        data = s3.get_object(Bucket=bucket, Key=body["key"])["Body"].read()
        return {"data": base64.b64encode(data).decode()}
    elif op == "delete":
        s3.delete_object(Bucket=bucket, Key=body["key"])
    elif op == "list":
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=body.get("prefix", "")
        )
        return {"keys": {o["Key"]: o["Size"] for p in pages for o in p.get("Contents", [])}}
    return {}


class Control(BaseHTTPRequestHandler):
    s3: Any = None

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        if self.path == "/s3":
            answer = client_call(self.s3, body)
            status = 200
        else:
            changed = age(body["bucket"], body["key"], float(body["days"]))
            answer, status = {"changed": changed}, 200 if changed else 404
        self.send_response(status)
        self.end_headers()
        self.wfile.write(json.dumps(answer).encode())

    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    from moto.server import ThreadedMotoServer  # type: ignore[import-not-found, unused-ignore]

    s3_port, control_port = int(sys.argv[1]), int(sys.argv[2])
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=s3_port, verbose=False)
    server.start()
    import boto3  # type: ignore[import-not-found, unused-ignore]

    Control.s3 = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{s3_port}",
        region_name="us-east-1",
        aws_access_key_id="testing-access-key",
        aws_secret_access_key="testing-secret-key",
    )
    control = ThreadingHTTPServer(("127.0.0.1", control_port), Control)
    threading.Thread(target=control.serve_forever, daemon=True).start()
    print("ready", flush=True)
    try:
        sys.stdin.read()  # until the test closes our stdin
    finally:
        control.shutdown()
        server.stop()


if __name__ == "__main__":
    main()
