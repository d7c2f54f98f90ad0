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
    return {"written": written}
