#!/usr/bin/env python3
"""What the journal's fsyncs share the disk with, measured on the disk alone.

    python3 bench/disk-contention-probe.py DIR

1. Overlapping fsyncs: 1,150-byte appends to one file, each followed by fdatasync, from one and
   then two threads. If two threads get many more fsyncs a second at about the same latency, the
   disk runs concurrent fsyncs side by side (why the journal has two writer threads).
2. Deleting while fsyncing: while one thread appends and fdatasyncs 5,000 times a second, four
   64 MiB files are deleted, once by unlink and once by shrinking each 8 MiB at a time (with an
   fdatasync per step) before the unlink; prints the worst fsync around each deletion.
"""
import os
import sys
import tempfile
import threading
import time

RECORD = b"x" * 1150


def overlapping(directory, threads, count=3000):
    fd = os.open(os.path.join(directory, "overlap"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    lock = threading.Lock()
    latencies = []

    def worker():
        for _ in range(count):
            with lock:
                os.write(fd, RECORD)
            started = time.perf_counter()
            os.fdatasync(fd)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    os.close(fd)
    os.unlink(os.path.join(directory, "overlap"))
    latencies.sort()
    print(f"{threads} thread(s): {len(latencies) / elapsed:,.0f} fsyncs/s, "
          f"p50 {latencies[len(latencies) // 2] * 1e3:.3f} ms, p99 {latencies[int(len(latencies) * 0.99)] * 1e3:.3f} ms")


def deleting(directory, shrink):
    files = []
    for i in range(4):
        path = os.path.join(directory, f"old{i}")
        with open(path, "wb") as f:
            f.write(os.urandom(1 << 20) * 64)
            f.flush()
            os.fsync(f.fileno())
        files.append(path)
    fd = os.open(os.path.join(directory, "journal"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    samples = []
    stop = threading.Event()

    def appender():
        while not stop.is_set():
            os.write(fd, RECORD)
            started = time.perf_counter()
            os.fdatasync(fd)
            samples.append((started, time.perf_counter() - started))
            time.sleep(0.0002)

    thread = threading.Thread(target=appender)
    thread.start()
    time.sleep(1)
    began = time.perf_counter()
    for path in files:
        if shrink:
            f = os.open(path, os.O_WRONLY)
            size = os.fstat(f).st_size
            while size > 0:
                size = max(0, size - (8 << 20))
                os.ftruncate(f, size)
                os.fdatasync(f)
            os.close(f)
        os.unlink(path)
    ended = time.perf_counter()
    time.sleep(1)
    stop.set()
    thread.join()
    os.close(fd)
    os.unlink(os.path.join(directory, "journal"))
    around = [took for at, took in samples if began - 0.05 <= at <= ended + 0.2]
    print(f"deleting 4 x 64 MiB by {'shrinking, then unlink' if shrink else 'unlink'}: took "
          f"{(ended - began) * 1e3:.1f} ms; worst fsync around it {max(around) * 1e3:.2f} ms")


def main():
    directory = tempfile.mkdtemp(dir=sys.argv[1] if len(sys.argv) > 1 else None)
    try:
        overlapping(directory, 1)
        overlapping(directory, 2)
        deleting(directory, shrink=False)
        deleting(directory, shrink=True)
    finally:
        os.rmdir(directory)


if __name__ == "__main__":
    main()
