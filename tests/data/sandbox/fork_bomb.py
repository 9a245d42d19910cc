# Hostile: forks without end.  RLIMIT_NPROC caps it; the wall-clock deadline kills the whole group.
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
