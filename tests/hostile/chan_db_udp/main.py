import socket


def execute(input_data):
    # database_access is TCP to the database ports: no datagram may leave.
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"stolen", ("127.0.0.1", int(input_data["udp_port"])))
    return {"sent": True}
