"""The Python grpc.health.v1 client of tests/grpc_python.rs (package grpcio-health-checking).

Usage: python grpc_health_client.py ADDR PID SIGNAL

Checks "" and "ledger.v1.Ledger" on the grpc_service example at ADDR, opens a Watch stream on
"", and once the stream has said SERVING sends SIGNAL (USR1: the supervised worker starts failing
until it gives up; TERM: the service drains) to the service's PID, then reads the stream until
NOT_SERVING and checks both services again. Prints what it saw as one JSON object. Every call
has a deadline, so the client never hangs.
"""

import json
import os
import signal
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

ADDR, PID, SIGNAL = sys.argv[1], int(sys.argv[2]), sys.argv[3]
DEADLINE = 10
STATUS = health_pb2.HealthCheckResponse.ServingStatus


def check(stub, service):
    try:
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=DEADLINE)
        return STATUS.Name(reply.status)
    except grpc.RpcError as error:
        return error.code().name


def main():
    seen = {}
    with grpc.insecure_channel(ADDR) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        seen["before"] = {"": check(stub, ""), "ledger.v1.Ledger": check(stub, "ledger.v1.Ledger")}
        watched = []
        stream = stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=30)
        for reply in stream:
            watched.append(STATUS.Name(reply.status))
            if len(watched) == 1:
                os.kill(PID, getattr(signal, "SIG" + SIGNAL))
            if reply.status == health_pb2.HealthCheckResponse.NOT_SERVING:
                break
        stream.cancel()
        seen["watch"] = watched
        seen["after"] = {"": check(stub, ""), "ledger.v1.Ledger": check(stub, "ledger.v1.Ledger")}
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
