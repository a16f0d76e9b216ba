#!/usr/bin/env python3
"""An agent that reaches the Agent Hypervisor over plain HTTP, with nothing but `requests`.

It creates a session, joins it, activates it, asks whether it may read (allowed) and deploy (denied: ring 2 may not
run an irreversible action), writes and reads shared state, and follows the session's live events until it sees its
own decisions. The acting DID is the API key's: the script never says who it is.

    HV_API_URL=http://127.0.0.1:8080 HV_API_KEY=hvk_... python3 examples/agent.py

Prints one JSON object per step; exits non-zero if the hypervisor answers unexpectedly.
"""

import json
import os
import sys

import requests

API = os.environ.get("HV_API_URL", "http://127.0.0.1:8080").rstrip("/")
KEY = os.environ["HV_API_KEY"]
http = requests.Session()
http.headers["Authorization"] = f"Bearer {KEY}"

MANIFEST = [
    {"actionId": "read-docs", "name": "read docs", "reversibility": "full", "isReadOnly": True},
    {"actionId": "deploy", "name": "deploy to prod", "reversibility": "none"},
]


def call(method, path, body=None, expect=200):
    response = http.request(method, API + path, json=body, timeout=30)
    if response.status_code != expect:
        # Refusals are RFC 9457 problem details: errorType is the hypervisor's error type.
        sys.exit(f"{method} {path}: {response.status_code} {response.text}")
    return response.json()


def report(step, value):
    print(json.dumps({"step": step, "result": value}), flush=True)


session_id = call("POST", "/sessions", {}, expect=201)["sessionId"]
report("create", session_id)
report("join", call("POST", f"/sessions/{session_id}/join", {"sigmaRaw": 0.9, "actions": MANIFEST}))
call("POST", f"/sessions/{session_id}/activate", {})

allowed = call("POST", f"/sessions/{session_id}/authorize", {"actionId": "read-docs"})
denied = call("POST", f"/sessions/{session_id}/authorize", {"actionId": "deploy"})
report("authorize read-docs", allowed)
report("authorize deploy", denied)
if not allowed["allowed"] or denied["allowed"]:
    sys.exit("unexpected decisions")

call("POST", f"/sessions/{session_id}/state/write", {"path": "/notes.md", "content": "hello from python"})
report("read", call("POST", f"/sessions/{session_id}/state/read", {"path": "/notes.md"})["content"])

# Trying to act as another agent is refused: the acting DID comes from the key.
impostor = http.post(
    f"{API}/sessions/{session_id}/authorize",
    json={"agentDid": "did:mesh:someone-else", "actionId": "read-docs"},
    timeout=30,
)
report("impersonation", {"status": impostor.status_code, "errorType": impostor.json()["errorType"]})
if impostor.status_code != 403:
    sys.exit("impersonation was not refused")

# Live events (Server-Sent Events): every persisted audit entry, until both decisions have arrived.
decisions = 0
with http.get(f"{API}/sessions/{session_id}/events", stream=True, timeout=30) as stream:
    for line in stream.iter_lines(decode_unicode=True):
        if line.startswith("data: "):
            entry = json.loads(line[len("data: "):])
            report("event", {"seq": entry["seq"], "kind": entry["kind"]})
            decisions += entry["kind"] == "decision"
            if decisions == 2:
                break
report("done", session_id)
