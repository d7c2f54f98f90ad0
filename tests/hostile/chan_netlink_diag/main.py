import socket

NETLINK_SOCK_DIAG = 4  # lists every socket of the network namespace, with its owner
NETLINK_KOBJECT_UEVENT = 15
NETLINK_AUDIT = 9


def execute(input_data):
    made = []
    first = None
    for proto in (NETLINK_SOCK_DIAG, NETLINK_KOBJECT_UEVENT, NETLINK_AUDIT):
        try:
            socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, proto).close()
            made.append(proto)
        except OSError as exc:
            first = first or exc
    if made or first is None:
        return {"created": made}
    raise first
