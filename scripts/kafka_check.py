#!/usr/bin/env python3
"""Exit 0 when a Kafka-protocol broker answers a Metadata request in time.

tansu 0.6.0's SQLite storage task can panic (see the README's "Known limits");
the process then keeps its port open but answers nothing that needs storage,
so a port check is not enough: this asks for metadata, which needs storage."""
import socket
import struct
import sys

host, port = (sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:9092").rsplit(":", 1)
timeout = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
client = b"evently-check"
# Metadata v1: api_key 3, version 1, correlation id 7, client id, topics = [] (none:
# the answer needs storage for the broker list but stays small however many topics exist)
body = struct.pack(">hhih", 3, 1, 7, len(client)) + client + struct.pack(">i", 0)
try:
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(struct.pack(">i", len(body)) + body)
        header = s.recv(8)
        if len(header) < 8 or struct.unpack(">ii", header)[1] != 7:
            sys.exit(1)
except OSError:
    sys.exit(1)
sys.exit(0)
