def execute(input_data):
    return {"blob": "x" * (100 * 1024 * 1024)}
