import socket


def execute(input_data):
    # A datagram pair is unconnected on the sending side's address: sendto() with a path
    # delivers to whatever datagram socket is bound there (the /dev/log kind).
    a, _b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    a.sendto(b"stolen", input_data["dgram_path"])
    return {"sent": True}
