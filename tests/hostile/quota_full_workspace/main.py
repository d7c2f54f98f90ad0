import time


def execute(input_data):
    chunk = b"w" * (1 << 20)
    written = 0
    for n in range(int(input_data.get("files", 64))):
        try:
            with open(f"fill{n}.bin", "wb") as fh:
                for _ in range(int(input_data.get("mb_per_file", 16))):
                    fh.write(chunk)
                    written += len(chunk)
        except OSError:  # RLIMIT_FSIZE (EFBIG) or a full disk: keep going with a new file
            continue
    if input_data.get("hold"):  # keep the disk full until the deadline, if let
        time.sleep(1000)
    return {"written": written}
