import socket

IPPROTO_MPTCP = 262


def execute(input_data):
    # MPTCP falls back to plain TCP against a TCP listener, and its ports are not TCP's.
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, IPPROTO_MPTCP)
    s.settimeout(2)
    s.connect(("127.0.0.1", int(input_data["port"])))
    s.sendall(b"stolen")
    return {"connected": True}
