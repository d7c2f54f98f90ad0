import os
import tempfile

# What matplotlib, numba and friends do at import: a cache under ~/.cache (or XDG), a
# config folder, temporary files.
def _litter(tag):
    paths = []
    cache = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                         "zygote-home-writes")
    os.makedirs(cache, exist_ok=True)
    p = os.path.join(cache, tag)
    with open(p, "w") as f:
        f.write(tag)
    paths.append(p)
    home_file = os.path.expanduser(f"~/.home-writes-{tag}")
    with open(home_file, "w") as f:
        f.write(tag)
    paths.append(home_file)
    fd, tmp = tempfile.mkstemp(prefix="skillexec-home-writes-")
    os.write(fd, tag.encode())
    os.close(fd)
    paths.append(tmp)
    return paths


AT_IMPORT = _litter("import")


def execute(input_data):
    return {"import": AT_IMPORT, "call": _litter("call"),
            "home": os.path.expanduser("~"), "tmp": tempfile.gettempdir()}
