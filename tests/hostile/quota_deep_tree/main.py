import os


def execute(input_data):
    # Relative mkdir + chdir: the path grows past PATH_MAX, no call ever names it whole.
    for _ in range(int(input_data.get("depth", 3000))):
        os.mkdir("deep")
        os.chdir("deep")
    with open("bottom.txt", "w") as fh:
        fh.write("at the bottom")
    os.symlink("/", "root-link")  # cleanup must remove the link, never follow it
    return {"made": True}
