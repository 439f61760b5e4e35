#!/usr/bin/env python3
"""A Swarmbus worker in plain Python, standard library only.

Registers an agent with capabilities, heartbeats, long-polls its inbox for task_request messages,
runs each task, reports the result (or the error) and acks the request. Ctrl-C or SIGTERM lets the
task under way finish and report, then tells the server it is going offline (a second Ctrl-C stops
it at once).

    python3 examples/python/worker.py --server http://127.0.0.1:8080 --username me --password my-password \
        --agent py-worker-1 --capabilities text,python

The example handler counts words in parameters["text"]; parameters["sleep_seconds"] makes it slow
and parameters["fail"] makes it raise, to show retries.
"""
import argparse
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request


class Swarmbus:
    """Just the calls a worker needs, over urllib."""

    def __init__(self, server, token=None):
        self.server = server.rstrip("/")
        self.token = token

    def call(self, method, path, body=None, timeout=30):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.server + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        if self.token:
            request.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as e:
            error = json.loads(e.read() or b"{}")
            raise RuntimeError(f"{e.code} {error.get('error')}: {error.get('message')}") from None

    def login(self, username, password):
        self.token = self.call("POST", "/auth/token", {"username": username, "password": password})["access_token"]

    def agent_path(self, agent):
        return "/api/v1/agents/" + urllib.parse.quote(agent, safe="")


def handle(task, agent):
    """The work itself: replace with yours. Returns any JSON value; raising fails the attempt."""
    params = task.get("parameters") or {}
    if params.get("sleep_seconds"):
        time.sleep(float(params["sleep_seconds"]))
    if params.get("fail"):
        raise RuntimeError(params["fail"])
    text = params.get("text", "")
    return {"words": len(text.split()), "worker": agent, "language": "python"}


def main():
    parser = argparse.ArgumentParser(description="A Swarmbus worker in plain Python")
    parser.add_argument("--server", default=os.environ.get("SWARMBUS_SERVER", "http://127.0.0.1:8080"))
    parser.add_argument("--token", default=os.environ.get("SWARMBUS_TOKEN"))
    parser.add_argument("--username")
    parser.add_argument("--password")
    parser.add_argument("--agent", required=True)
    parser.add_argument("--capabilities", default="text")
    parser.add_argument("--heartbeat", type=float, default=5.0, help="seconds between heartbeats")
    args = parser.parse_args()

    bus = Swarmbus(args.server, args.token)
    if args.username:
        bus.login(args.username, args.password)
    capabilities = [c for c in args.capabilities.split(",") if c]
    bus.call("POST", "/api/v1/agents", {"agent_id": args.agent, "role": "worker",
                                         "capabilities": capabilities, "max_concurrent_tasks": 1})
    stopping = threading.Event()  # Ctrl-C: take no new work
    stopped = threading.Event()  # the last task is reported: stop beating
    busy = [0]

    def heartbeat():  # beats on after Ctrl-C, or a slow last task outlives the heartbeat TTL and is lost
        while not stopped.wait(args.heartbeat):
            try:
                bus.call("POST", bus.agent_path(args.agent) + "/heartbeat", {"current_tasks": busy[0]})
            except Exception as e:  # keep beating; the server may be restarting
                print(f"heartbeat failed: {e}", file=sys.stderr, flush=True)

    def stop(*_):  # finish the task under way, report it, then go offline
        stopping.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C stops at once

    beating = threading.Thread(target=heartbeat, daemon=True)
    beating.start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"ready {args.agent} {capabilities}", flush=True)

    handled = []  # ids acked by the next receive: one request per message, not two
    while not stopping.is_set():
        try:
            got = bus.call("POST", bus.agent_path(args.agent) + "/receive?max_messages=1&timeout=2"
                           "&visibility_timeout=600", {"ack": handled}, timeout=40)["messages"]
            handled = []
        except Exception as e:
            print(f"receive failed: {e}", file=sys.stderr, flush=True)
            time.sleep(1)
            continue
        for message in got:
            if message["type"] == "task_request":
                task = message["content"]
                busy[0] = 1
                try:
                    result = handle(task, args.agent)
                    outcome = ("complete", {"agent_id": args.agent, "result": result})
                except Exception as e:
                    outcome = ("fail", {"agent_id": args.agent, "error": f"{type(e).__name__}: {e}"})
                busy[0] = 0
                try:
                    bus.call("POST", f"/api/v1/tasks/{task['task_id']}/{outcome[0]}", outcome[1])
                    print(f"{outcome[0]} {task['task_id']}", flush=True)
                except RuntimeError as e:  # 404/409: no longer ours (cancelled or moved on)
                    print(f"report refused: {e}", file=sys.stderr, flush=True)
                except OSError as e:  # unreachable: left unacked, the task times out and is retried
                    print(f"report failed: {e}", file=sys.stderr, flush=True)
                    continue
            handled.append(message["id"])

    stopped.set()
    beating.join(timeout=35)  # a beat in flight must not land after "offline" and undo it
    try:
        if handled:
            bus.call("POST", bus.agent_path(args.agent) + "/ack", {"message_ids": handled})
        bus.call("POST", bus.agent_path(args.agent) + "/heartbeat", {"status": "offline", "current_tasks": 0})
    except (OSError, RuntimeError) as e:  # the server is gone: it will find the agent dead by its TTL
        print(f"going offline failed: {e}", file=sys.stderr, flush=True)
    print("stopped", flush=True)


if __name__ == "__main__":
    main()
