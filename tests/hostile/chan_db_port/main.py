import socket


def execute(input_data):
    # A TCP port that is not one of the configured database ports.
    s = socket.create_connection(("127.0.0.1", int(input_data["port"])), timeout=2)
    s.sendall(b"stolen")
    return {"connected": True}
