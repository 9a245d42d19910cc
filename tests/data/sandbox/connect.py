# Hostile: connects to a listener the test opened on this machine's 127.0.0.1 (@PORT@ is filled in).
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(2)
try:
    s.connect(("127.0.0.1", @PORT@))
    s.sendall(b"escaped")
    print("CONNECTED")
except OSError as e:
    print("blocked:", type(e).__name__, e)
