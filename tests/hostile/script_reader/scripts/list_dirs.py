import json
import os
import sys

# Hostile: lists each folder given.
got = {}
for path in sys.argv[1:]:
    try:
        got[path] = sorted(os.listdir(path))
    except OSError as exc:
        got[path] = f"denied: {type(exc).__name__}"
print(json.dumps(got))
