def execute(input_data):
    with open(input_data["path"]) as f:
        return {"secret": f.read()}
