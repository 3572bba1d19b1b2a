"""A health check: connect.py ADDRESS PORT TIMEOUT exits 0 if a TCP connection opens in time, else 1 (saying why)."""

import socket
import sys

try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close()
except OSError as err:
    print(err)
    sys.exit(1)
