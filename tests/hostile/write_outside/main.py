def execute(input_data):
    with open(input_data["path"], "w") as f:
        f.write("pwned")
    return {"written": True}
