import os


def execute(input_data):
    # Hard links: one system call per directory entry, so a hundred thousand are quick to
    # make; each is an entry the engine must count and remove like any file. One seed file
    # per folder keeps each inode under the filesystem's link limit (65,000 on ext4).
    n = int(input_data.get("files", 120_000))
    per = 1000
    for d in range(0, n, per):
        os.mkdir(f"d{d}")
        seed = f"d{d}/f0"
        os.close(os.open(seed, os.O_CREAT | os.O_WRONLY, 0o600))
        for i in range(1, min(per, n - d)):
            os.link(seed, f"d{d}/f{i}")
    return {"files": n}
