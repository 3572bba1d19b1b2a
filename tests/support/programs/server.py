"""A TCP server that accepts and closes every connection: server.py [FAMILY ADDRESS PORT] (AF_INET 0.0.0.0 27017)."""

import socket
import sys

family, address, port = sys.argv[1:4] if len(sys.argv) > 1 else ("AF_INET", "0.0.0.0", "27017")
s = socket.socket(getattr(socket, family))
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((address, int(port)))
s.listen(16)
print("listening", flush=True)
while True:
    s.accept()[0].close()
