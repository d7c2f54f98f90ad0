import time


def execute(input_data):
    time.sleep(60)
    return {"woke": True}
