"""The Python grpcio client of tests/grpc_python.rs.

Usage: python grpc_python_client.py ADDR STUB_DIR

Calls the grpc_service example at ADDR with the stubs grpcio-tools generated from
proto/ledger.proto into STUB_DIR, and prints what it saw as one JSON object. Every call has a
deadline, so the client never hangs.
"""

import json
import sys

import grpc

ADDR, STUB_DIR = sys.argv[1], sys.argv[2]
sys.path.insert(0, STUB_DIR)

import ledger_pb2  # noqa: E402
import ledger_pb2_grpc  # noqa: E402

DEADLINE = 10


def failure(error):
    return {"code": error.code().name, "details": error.details()}


def entries(stub, guarded):
    request = ledger_pb2.EntriesRequest(account="ana", count=8, panic_after=3, guarded=guarded)
    seen = []
    try:
        for entry in stub.ListEntries(request, timeout=DEADLINE):
            seen.append(entry.index)
    except grpc.RpcError as error:
        return {"entries": seen, **failure(error)}
    return {"entries": seen, "code": "OK"}


def main():
    channel = grpc.insecure_channel(ADDR)
    grpc.channel_ready_future(channel).result(timeout=DEADLINE)
    stub = ledger_pb2_grpc.LedgerStub(channel)
    seen = {}
    try:
        stub.GetBalance(ledger_pb2.BalanceRequest(account="poison"), timeout=DEADLINE)
        seen["unary_panic"] = {"code": "OK"}
    except grpc.RpcError as error:
        seen["unary_panic"] = failure(error)
    balance = stub.GetBalance(ledger_pb2.BalanceRequest(account="ana"), timeout=DEADLINE)
    seen["unary_after"] = {"account": balance.account, "cents": balance.cents}
    seen["stream_layer"] = entries(stub, guarded=False)
    seen["stream_guarded"] = entries(stub, guarded=True)
    balance = stub.GetBalance(ledger_pb2.BalanceRequest(account="bo"), timeout=DEADLINE)
    seen["after_streams"] = {"account": balance.account, "cents": balance.cents}
    print(json.dumps(seen))


main()
