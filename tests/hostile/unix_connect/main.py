import socket


def execute(input_data):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(input_data["path"])
    s.sendall(b"stolen")
    return {"connected": True}
