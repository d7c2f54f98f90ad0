import socket


def execute(input_data):
    s = socket.create_connection(("127.0.0.1", int(input_data["port"])), timeout=2)
    s.sendall(b"stolen")
    return {"connected": True}
