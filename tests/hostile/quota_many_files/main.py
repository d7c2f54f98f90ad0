import os


def execute(input_data):
    n = int(input_data.get("files", 120_000))
    per = 1000
    for d in range(0, n, per):
        os.mkdir(f"d{d}")
        for i in range(min(per, n - d)):
            os.close(os.open(f"d{d}/f{i}", os.O_CREAT | os.O_WRONLY, 0o600))
    return {"files": n}
