import os


def execute(input_data):
    pids = [p for p in os.listdir("/proc") if p.isdigit()]
    cmdlines = []
    for p in pids[:50]:
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmdlines.append(f.read().decode(errors="replace"))
        except OSError:
            pass
    return {"pids": pids, "cmdlines": cmdlines}
