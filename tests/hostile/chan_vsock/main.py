import socket

AF_VSOCK = 40
VMADDR_CID_HOST = 2


def execute(input_data):
    s = socket.socket(AF_VSOCK, socket.SOCK_STREAM)
    try:
        s.settimeout(1)
        s.connect((VMADDR_CID_HOST, 1024))
    except OSError as exc:
        return {"created": True, "connect": exc.errno}
    return {"created": True, "connected": True}
