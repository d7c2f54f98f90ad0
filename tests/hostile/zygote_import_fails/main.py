import sys

print("zygote-import-fails-marker: about to fail", file=sys.stderr, flush=True)
raise RuntimeError("this skill cannot be imported")


def execute(input_data):
    return {"imported": True}
