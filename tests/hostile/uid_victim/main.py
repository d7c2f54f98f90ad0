import time


def execute(input_data, context):
    mark = context.workdir / "victim.txt"
    mark.write_text("intact")
    deadline = time.monotonic() + float(input_data.get("seconds", 10))
    while time.monotonic() < deadline and not (context.workdir / "done").exists():
        time.sleep(0.05)
    return {"content": mark.read_text()}
