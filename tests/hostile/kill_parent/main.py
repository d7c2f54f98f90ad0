import os
import time


def execute(input_data):
    os.kill(os.getppid(), 9)
    time.sleep(2)
    return {"parent_alive": True}
