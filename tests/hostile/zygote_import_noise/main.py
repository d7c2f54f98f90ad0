import os
import sys

MARK = "zygote-import-noise-marker"
# At import: escape sequences and a forged status line on stdout and stderr, straight to
# the file descriptors (the terminal, if the warm parent inherited it).
for fd in (1, 2):
    os.write(fd, f"\x1b[2J\x1b[H{MARK} task ok\n".encode())
print(MARK, file=sys.stderr, flush=True)


def execute(input_data):
    return {"imported": True}
