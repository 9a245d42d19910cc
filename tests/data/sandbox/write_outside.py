# Hostile: tries to overwrite and delete a canary file in the project (@CANARY@ is filled in) and to write
# into the system; then writes where it may (its working directory and its private /tmp).
import os
results = []
for path in ["@CANARY@", "/usr/ilr_sandbox_probe", "/etc/ilr_sandbox_probe", "/ilr_sandbox_probe"]:
    try:
        with open(path, "w") as f:
            f.write("pwned")
        results.append("WROTE " + path)
    except OSError as e:
        results.append(type(e).__name__)
try:
    os.remove("@CANARY@")
    results.append("REMOVED canary")
except OSError as e:
    results.append(type(e).__name__)
with open("inside.txt", "w") as f:
    f.write("fine")
with open("/tmp/scratch.txt", "w") as f:
    f.write("fine")
print(results)
