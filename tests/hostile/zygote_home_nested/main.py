import os

# At import, in the zygote's HOME: folders nested deeper than Python's recursion limit
# (shutil.rmtree recurses, and its RecursionError ended engine.close).
_here = os.getcwd()
os.chdir(os.path.expanduser("~"))
for _ in range(1100):
    os.makedirs("d", exist_ok=True)
    os.chdir("d")
with open("bottom.txt", "w") as f:
    f.write("x")
os.chdir(_here)
HOME = os.path.expanduser("~")


def execute(input_data):
    return {"home": HOME}
