import os
import time

# At import, in the warm parent: a double-forked daemon in its own session, whose working
# directory (this folder) is how the test finds it on the host.
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.chdir(os.path.dirname(os.path.abspath(__file__)))
        time.sleep(120)
        os._exit(0)
    os._exit(0)
time.sleep(0.2)


def execute(input_data):
    return {"imported": True}
