import time

time.sleep(600)


def execute(input_data):
    return {"imported": True}
