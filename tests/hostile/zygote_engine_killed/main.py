import os
import time


def execute(input_data, context):
    # A daemon that escaped its session, then a long call: the test kills the engine now.
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            (context.workdir / "daemon.started").write_text("yes")
            time.sleep(120)
            os._exit(0)
        os._exit(0)
    time.sleep(60)
    return {"survived": True}
