import socket

AF_PACKET = 17
ETH_P_ALL = 0x0003


def execute(input_data):
    made = []
    first = None
    for name, args in (("packet", (AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))),
                       ("packet_dgram", (AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))),
                       ("raw_icmp", (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)),
                       ("raw6", (socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW))):
        try:
            socket.socket(*args).close()
            made.append(name)
        except OSError as exc:
            first = first or exc
    if made or first is None:
        return {"created": made}
    raise first
