# Hostile: never ends and prints nothing.
while True:
    pass
