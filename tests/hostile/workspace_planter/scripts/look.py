import json
import os
import stat

# What a call finds in its workspace (its cwd) as it starts.
st = os.lstat(".")
try:
    xattrs = sorted(os.listxattr("."))
except OSError as exc:
    xattrs = [f"unreadable: {type(exc).__name__}"]
tmp = os.lstat(".tmp")
print(json.dumps({"cwd": os.getcwd(), "entries": sorted(os.listdir(".")),
                  "mode": oct(stat.S_IMODE(st.st_mode)), "uid": st.st_uid,
                  "xattrs": [x for x in xattrs if not x.startswith("security.")],
                  "tmp": {"dir": stat.S_ISDIR(tmp.st_mode), "mode": oct(stat.S_IMODE(tmp.st_mode)),
                          "uid": tmp.st_uid, "entries": sorted(os.listdir(".tmp")) if
                          stat.S_ISDIR(tmp.st_mode) else None,
                          "xattrs": [x for x in os.listxattr(".tmp", follow_symlinks=False)
                                     if not x.startswith("security.")]}}))
