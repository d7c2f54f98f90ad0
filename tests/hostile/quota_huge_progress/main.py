def execute(input_data, context):
    message = "\x1b[2J" + "p" * int(input_data.get("bytes", 8 << 20))
    for i in range(int(input_data.get("times", 20))):
        context.progress(i / 20, message)
    return {"sent": True}
