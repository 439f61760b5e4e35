#!/usr/bin/env python3
"""The disk's own fdatasync latency at W3's pace: 1,150-byte appends at 5,000/s, each followed by
fdatasync, on a growing file, on one made full size first as a hole (as the journal's segments
are), and on one written full of zeros first. The floor any fsync-per-commit journal on this disk
sits on. Usage: python3 bench/fsync-probe.py [directory]"""
import os
import sys
import time


def run(directory, mode, n=30000, size=1150, rate=5000):
    path = os.path.join(directory, "fsync_probe.bin")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC)
    if mode == "zeros":
        os.write(fd, b"\0" * (n * size + 4096))
    elif mode == "hole":
        os.ftruncate(fd, n * size + 4096)
    os.fsync(fd)
    os.lseek(fd, 0, 0)
    buf = b"y" * size
    lat = []
    start = time.perf_counter()
    for i in range(n):
        target = start + i / rate
        while time.perf_counter() < target:
            pass
        os.write(fd, buf)
        t = time.perf_counter()
        os.fdatasync(fd)
        lat.append(time.perf_counter() - t)
    os.close(fd)
    os.remove(path)
    lat.sort()
    q = lambda p: lat[int(p * len(lat)) - 1] * 1e3
    print("%-12s p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms"
          % (mode, q(.5), q(.99), q(.999), lat[-1] * 1e3))


if __name__ == "__main__":
    where = sys.argv[1] if len(sys.argv) > 1 else "."
    for mode in ("appending", "hole", "zeros"):
        run(where, mode)
