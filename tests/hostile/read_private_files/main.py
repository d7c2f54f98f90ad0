import os


def execute(input_data):
    """Read every path given (a folder: list it); return what could be read."""
    got = {}
    first = None
    for path in input_data["paths"]:
        try:
            if os.path.isdir(path):
                got[path] = sorted(os.listdir(path))
            else:
                with open(path, "rb") as f:
                    got[path] = f.read(4096).decode("latin-1")
        except OSError as exc:
            first = first or exc
    if got or first is None:
        return {"read": got}
    raise first
