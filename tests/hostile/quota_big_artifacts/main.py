import os


def execute(input_data, context):
    size = int(input_data.get("mb", 4)) << 20
    saved = 0
    for i in range(int(input_data.get("count", 100))):
        try:
            context.save_artifact(f"big{i}.bin", os.urandom(size))
            saved += 1
        except Exception:
            pass
    return {"saved": saved}
