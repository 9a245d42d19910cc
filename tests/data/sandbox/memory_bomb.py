# Hostile: allocates without end (RLIMIT_AS turns it into MemoryError).
blocks = []
try:
    huge = bytearray(64 << 30)
except MemoryError:
    print("64 GiB at once: MemoryError", flush=True)
while True:
    blocks.append(bytearray(32 << 20))
