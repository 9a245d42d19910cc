# Hostile: 100 MiB on stdout and 1 MiB on stderr.
import sys
chunk = "x" * (1 << 20)
for _ in range(100):
    sys.stdout.write(chunk)
sys.stdout.flush()
sys.stderr.write("e" * (1 << 20))
