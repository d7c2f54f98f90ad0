import sys


def execute(input_data):
    chunk = "x" * (1024 * 1024)
    for _ in range(100):
        sys.stdout.write(chunk)
    sys.stdout.flush()
    return {"printed_mb": 100}
