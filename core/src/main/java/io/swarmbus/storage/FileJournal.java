package io.swarmbus.storage;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * The embedded journal: segmented, checksummed, append-only files with group-commit fsync, plus
 * snapshots that bound recovery time and let old segments be deleted.
 *
 * <h2>Implementation notes</h2>
 * <ul>
 *   <li>Appenders copy frames into an in-memory batch under {@code lock}. One writer thread swaps
 *       the batch out, writes it with one {@code write}, fsyncs once, and reports the batch's last
 *       sequence number as durable: every append that arrived during an fsync rides the next one
 *       (group commit), so fsyncs per second stay bounded while throughput grows with load.</li>
 *   <li>Layout: {@code journal/<first seq>.seg} and {@code snapshots/<seq>.snap}, names zero-padded
 *       so that lexical order is numeric order. A snapshot is written to a temp file, fsynced,
 *       renamed, and the directory fsynced, so it is either whole or absent.</li>
 *   <li>Recovery reads the newest snapshot that is whole (an empty frame ends it), falls back to
 *       the one before, then replays later records. A frame with a bad length or checksum, a torn
 *       frame, or a gap in sequence numbers ends the good data: the file is truncated there, later
 *       segments are removed, and the report says so. Nothing of that is fatal.</li>
 *   <li>The two newest snapshots are kept; segments wholly covered by the older of them are
 *       deleted, so one unreadable snapshot never loses data.</li>
 * </ul>
 */
public final class FileJournal implements Journal {
    private static final String SEGMENT_SUFFIX = ".seg";
    private static final String SNAPSHOT_SUFFIX = ".snap";
    private static final int SNAPSHOTS_KEPT = 2;

    private final JournalConfig config;
    private final DurabilityListener listener;
    private final Path segmentDir;
    private final Path snapshotDir;

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition hasData = lock.newCondition();
    private final Condition hasRoom = lock.newCondition();
    // Direct buffers: the channel writes them without a copy, and the collector never moves them.
    private ByteBuffer active = ByteBuffer.allocateDirect(1 << 20);
    private ByteBuffer flushing = ByteBuffer.allocateDirect(1 << 20);
    private long lastSeq;
    /** Whether the batch holds a record someone waits for; if not, the writer may let it sit. */
    private boolean awaitedPending;
    private long lazySinceNanos;
    private boolean closing;
    private Throwable failure;

    private volatile long durableSeq;
    /** Set while the batch is past {@code maxBufferedBytes}; lets appenders skip the lock otherwise. */
    private volatile boolean full;
    private volatile long bytesSinceSnapshot;
    private FileChannel segment;
    private long segmentSize;
    /** Under {@code INTERVAL}: bytes written but not yet fsynced. */
    private final AtomicLong unforcedBytes = new AtomicLong();
    /** Guards {@code segment} against being forced by the syncer while the writer rolls it. */
    private final Object segmentLock = new Object();
    private Thread syncer;
    private final LongAdder batches = new LongAdder();
    private final LongAdder fsyncs = new LongAdder();
    private final LongAdder fsyncNanos = new LongAdder();
    private final LongAdder slowFsyncs = new LongAdder();
    private final AtomicLong maxFsyncNanos = new AtomicLong();
    private Thread writer;
    private boolean recovered;

    private FileJournal(JournalConfig config, DurabilityListener listener) {
        this.config = config;
        this.listener = listener;
        this.segmentDir = config.directory().resolve("journal");
        this.snapshotDir = config.directory().resolve("snapshots");
    }

    /** Opens (creating if needed) the journal in {@code config.directory()}. */
    public static FileJournal open(JournalConfig config, DurabilityListener listener) {
        Objects.requireNonNull(config, "config");
        Objects.requireNonNull(listener, "listener");
        FileJournal journal = new FileJournal(config, listener);
        try {
            Files.createDirectories(journal.segmentDir);
            Files.createDirectories(journal.snapshotDir);
        } catch (IOException e) {
            throw new StorageException("cannot create data directory " + config.directory(), e);
        }
        return journal;
    }

    @Override
    public RecoveryReport recover(RecoveryTarget target) {
        if (recovered) {
            throw new IllegalStateException("recover() already ran");
        }
        long started = System.nanoTime();
        List<String> problems = new ArrayList<>();
        try {
            long[] snapshot = loadSnapshot(target, problems);
            long snapshotSeq = snapshot[0];
            long[] replay = replaySegments(snapshotSeq, target, problems);
            lastSeq = Math.max(snapshotSeq, replay[1]);
            durableSeq = lastSeq;
            openActiveSegment();
            recovered = true;
            writer = Thread.ofPlatform().name("swarmbus-journal-writer").daemon().start(this::writeLoop);
            if (config.fsyncPolicy() == FsyncPolicy.INTERVAL) {
                syncer = Thread.ofPlatform().name("swarmbus-journal-sync").daemon().start(this::syncLoop);
            }
            long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
            return new RecoveryReport(snapshotSeq, snapshot[1], replay[0], lastSeq, replay[2], problems, millis);
        } catch (IOException e) {
            throw new StorageException("cannot recover journal in " + config.directory(), e);
        }
    }

    // ---------------------------------------------------------------- appending

    @Override
    public long append(ByteBuffer payload, boolean awaited) {
        lock.lock();
        try {
            if (failure != null) {
                throw new StorageException("journal failed earlier; no more writes accepted", failure);
            }
            if (closing || !recovered) {
                throw new StorageException("journal is not open for appends");
            }
            int needed = Frames.HEADER + payload.remaining();
            if (active.remaining() < needed) {
                active = grow(active, needed);
            }
            boolean wasEmpty = active.position() == 0;
            if (wasEmpty) {
                lazySinceNanos = System.nanoTime();
            }
            Frames.write(active, ++lastSeq, payload);
            if (awaited) {
                awaitedPending = true;
            }
            if (awaited || wasEmpty) {
                hasData.signal(); // an idle writer must at least start the lazy-flush clock
            }
            if (active.position() > config.maxBufferedBytes()) {
                full = true;
            }
            return lastSeq;
        } finally {
            lock.unlock();
        }
    }

    private static ByteBuffer grow(ByteBuffer buffer, int needed) {
        int capacity = buffer.capacity();
        while (capacity - buffer.position() < needed) {
            capacity *= 2;
        }
        ByteBuffer bigger = buffer.isDirect() ? ByteBuffer.allocateDirect(capacity) : ByteBuffer.allocate(capacity);
        bigger.put(buffer.flip());
        return bigger;
    }

    @Override
    public void awaitCapacity() throws InterruptedException {
        if (!full) {
            return;
        }
        lock.lock();
        try {
            while (active.position() > config.maxBufferedBytes() && failure == null && !closing) {
                hasRoom.await();
            }
        } finally {
            lock.unlock();
        }
    }

    @Override
    public long lastSeq() {
        lock.lock();
        try {
            return lastSeq;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public long durableSeq() {
        return durableSeq;
    }

    @Override
    public JournalStats stats() {
        return new JournalStats(batches.sum(), fsyncs.sum(), fsyncNanos.sum(), maxFsyncNanos.get(), slowFsyncs.sum());
    }

    /** fsyncs the active segment, timing it. */
    private void force(FileChannel channel) throws IOException {
        long started = System.nanoTime();
        channel.force(false);
        long took = System.nanoTime() - started;
        fsyncs.increment();
        fsyncNanos.add(took);
        maxFsyncNanos.accumulateAndGet(took, Math::max);
        if (took >= JournalStats.SLOW_NANOS) {
            slowFsyncs.increment();
        }
    }

    @Override
    public long bytesSinceSnapshot() {
        return bytesSinceSnapshot;
    }

    // ---------------------------------------------------------------- the writer thread

    private void writeLoop() {
        try {
            while (true) {
                long batchLastSeq = -1;
                lock.lock();
                try {
                    while (!flushDue() && !closing) {
                        awaitWork();
                    }
                    if (closing && active.position() == 0) {
                        break;
                    }
                    if (active.position() > 0 && (flushDue() || closing)) {
                        ByteBuffer written = active;
                        active = flushing;
                        flushing = written;
                        batchLastSeq = lastSeq;
                        awaitedPending = false;
                        full = false;
                        hasRoom.signalAll();
                    }
                } finally {
                    lock.unlock();
                }
                // All I/O happens outside the lock, so appenders never wait for the disk.
                if (batchLastSeq >= 0) {
                    writeBatch(flushing.flip());
                    flushing.clear();
                    durableSeq = batchLastSeq;
                    listener.durable(batchLastSeq);
                    if (segmentSize >= config.segmentBytes()) {
                        rollSegment(batchLastSeq + 1);
                    }
                }
            }
            synchronized (segmentLock) {
                segment.force(true);
                segment.close();
            }
        } catch (Throwable e) {
            fail(e);
        }
    }

    /** Stops accepting appends, releases waiting appenders, and tells the engine. */
    private void fail(Throwable cause) {
        lock.lock();
        try {
            failure = cause;
            hasRoom.signalAll();
        } finally {
            lock.unlock();
        }
        listener.failed(cause);
    }

    /** Whether the batch should be written now: someone waits for it, or lazy records waited long enough. */
    private boolean flushDue() {
        return active.position() > 0 && (awaitedPending
                || System.nanoTime() - lazySinceNanos >= config.fsyncInterval().toNanos());
    }

    /** Sleeps until an awaited append arrives or lazy records fall due. */
    private void awaitWork() throws InterruptedException {
        if (active.position() == 0) {
            hasData.await();
        } else {
            long due = config.fsyncInterval().toNanos() - (System.nanoTime() - lazySinceNanos);
            hasData.await(Math.max(due, 1), TimeUnit.NANOSECONDS);
        }
    }

    /**
     * Under {@code INTERVAL}, fsyncs on its own thread so that a slow fsync never holds up the
     * writes behind it (the writer only writes to the OS).
     */
    private void syncLoop() {
        long interval = config.fsyncInterval().toNanos();
        try {
            while (!Thread.currentThread().isInterrupted()) {
                LockSupport.parkNanos(interval);
                long bytes = unforcedBytes.get();
                if (bytes > 0) {
                    synchronized (segmentLock) {
                        if (segment.isOpen()) {
                            force(segment);
                        }
                    }
                    unforcedBytes.addAndGet(-bytes);
                }
            }
        } catch (IOException e) {
            fail(e);
        }
    }

    private void writeBatch(ByteBuffer batch) throws IOException {
        int bytes = batch.remaining();
        while (batch.hasRemaining()) {
            segment.write(batch);
        }
        segmentSize += bytes;
        bytesSinceSnapshot += bytes;
        batches.increment();
        if (config.fsyncPolicy() == FsyncPolicy.ALWAYS) {
            force(segment);
        } else {
            unforcedBytes.addAndGet(bytes);
        }
    }

    private void rollSegment(long firstSeq) throws IOException {
        synchronized (segmentLock) {
            segment.force(true);
            segment.close();
            createSegment(firstSeq);
        }
    }

    private void createSegment(long firstSeq) throws IOException {
        Path file = segmentDir.resolve(name(firstSeq, SEGMENT_SUFFIX));
        segment = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
        segmentSize = 0;
        fsyncDirectory(segmentDir);
    }

    private void openActiveSegment() throws IOException {
        List<Path> segments = list(segmentDir, SEGMENT_SUFFIX);
        if (segments.isEmpty()) {
            createSegment(lastSeq + 1);
            return;
        }
        Path last = segments.getLast();
        segment = FileChannel.open(last, StandardOpenOption.WRITE);
        segmentSize = segment.size();
        segment.position(segmentSize);
    }

    @Override
    public void close() {
        Thread toJoin;
        lock.lock();
        try {
            if (closing) {
                return;
            }
            closing = true;
            hasData.signalAll();
            toJoin = writer;
        } finally {
            lock.unlock();
        }
        if (toJoin == null) {
            return;
        }
        try {
            toJoin.join();
            if (syncer != null) {
                syncer.interrupt();
                syncer.join();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // ---------------------------------------------------------------- snapshots

    @Override
    public void writeSnapshot(long seq, Consumer<Consumer<ByteBuffer>> source) {
        Path temp = snapshotDir.resolve(name(seq, SNAPSHOT_SUFFIX) + ".tmp");
        try (FileChannel out = FileChannel.open(temp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            SnapshotWriter writer = new SnapshotWriter(out);
            source.accept(writer::write);
            writer.finish();
            out.force(true);
        } catch (IOException e) {
            throw new StorageException("cannot write snapshot " + temp, e);
        }
        try {
            awaitDurable(seq);
            Files.move(temp, snapshotDir.resolve(name(seq, SNAPSHOT_SUFFIX)), StandardCopyOption.ATOMIC_MOVE);
            fsyncDirectory(snapshotDir);
            bytesSinceSnapshot = 0;
            compact();
        } catch (IOException e) {
            throw new StorageException("cannot install snapshot " + temp, e);
        }
    }

    /** A snapshot never claims records that are not durable in the journal yet. */
    private void awaitDurable(long seq) {
        lock.lock();
        try {
            if (active.position() > 0) {
                awaitedPending = true;
                hasData.signal();
            }
        } finally {
            lock.unlock();
        }
        while (durableSeq < seq) {
            if (failure != null) {
                throw new StorageException("journal failed while a snapshot waited for it", failure);
            }
            LockSupport.parkNanos(100_000);
        }
    }

    /** Deletes snapshots beyond the newest two and segments wholly covered by the older of those. */
    private void compact() throws IOException {
        List<Path> snapshots = list(snapshotDir, SNAPSHOT_SUFFIX);
        if (snapshots.size() < SNAPSHOTS_KEPT) {
            return;
        }
        for (Path old : snapshots.subList(0, snapshots.size() - SNAPSHOTS_KEPT)) {
            Files.deleteIfExists(old);
        }
        long floor = seqOf(snapshots.get(snapshots.size() - SNAPSHOTS_KEPT));
        List<Path> segments = list(segmentDir, SEGMENT_SUFFIX);
        // A segment may go when the next one starts at or before floor + 1: all its records <= floor.
        for (int i = 0; i + 1 < segments.size(); i++) {
            if (seqOf(segments.get(i + 1)) <= floor + 1) {
                Files.deleteIfExists(segments.get(i));
            }
        }
    }

    private static final class SnapshotWriter {
        private final FileChannel out;
        private ByteBuffer buffer = ByteBuffer.allocate(4 << 20);
        private long ordinal;

        SnapshotWriter(FileChannel out) {
            this.out = out;
        }

        void write(ByteBuffer payload) {
            if (!payload.hasRemaining()) {
                throw new IllegalArgumentException("snapshot records must not be empty");
            }
            append(payload);
        }

        void finish() throws IOException {
            append(ByteBuffer.allocate(0));
            drain();
        }

        private void append(ByteBuffer payload) {
            int needed = Frames.HEADER + payload.remaining();
            try {
                if (buffer.remaining() < needed) {
                    drain();
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            if (buffer.remaining() < needed) {
                buffer = grow(buffer, needed);
            }
            Frames.write(buffer, ++ordinal, payload);
        }

        private void drain() throws IOException {
            buffer.flip();
            while (buffer.hasRemaining()) {
                out.write(buffer);
            }
            buffer.clear();
        }
    }

    // ---------------------------------------------------------------- recovery

    /** Returns {snapshot seq, records read}. */
    private long[] loadSnapshot(RecoveryTarget target, List<String> problems) throws IOException {
        for (Path temp : list(snapshotDir, SNAPSHOT_SUFFIX + ".tmp")) {
            Files.deleteIfExists(temp);
        }
        List<Path> snapshots = list(snapshotDir, SNAPSHOT_SUFFIX);
        for (Path snapshot : snapshots.reversed()) {
            long records = readSnapshot(snapshot, target);
            if (records >= 0) {
                return new long[] {seqOf(snapshot), records};
            }
            problems.add("snapshot " + snapshot.getFileName() + " is incomplete or corrupt; ignored");
            target.reset();
        }
        return new long[] {0, 0};
    }

    /** Feeds a snapshot's records; returns how many, or -1 if it is not whole. */
    private static long readSnapshot(Path file, RecoveryTarget target) throws IOException {
        try (FileChannel in = FileChannel.open(file, StandardOpenOption.READ)) {
            Frames.Reader reader = new Frames.Reader(in);
            long records = 0;
            while (reader.next() == Frames.Status.OK) {
                if (reader.seq() != records + 1) {
                    return -1;
                }
                if (!reader.payload().hasRemaining()) {
                    return records;
                }
                target.snapshotRecord(reader.payload());
                records++;
            }
            return -1;
        }
    }

    /** Returns {records replayed, last good seq, bytes truncated}. */
    private long[] replaySegments(long snapshotSeq, RecoveryTarget target, List<String> problems)
            throws IOException {
        List<Path> segments = list(segmentDir, SEGMENT_SUFFIX);
        long replayed = 0;
        long last = snapshotSeq;
        long truncated = 0;
        for (int i = 0; i < segments.size(); i++) {
            Path file = segments.get(i);
            long expected = seqOf(file);
            if (expected > last + 1) {
                problems.add("records " + (last + 1) + ".." + (expected - 1) + " are missing before "
                        + file.getFileName() + "; continuing after the gap");
            }
            try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                Frames.Reader reader = new Frames.Reader(channel);
                Frames.Status status;
                while ((status = reader.next()) == Frames.Status.OK && reader.seq() == expected) {
                    if (expected > snapshotSeq) {
                        target.journalRecord(expected, reader.payload());
                        replayed++;
                        bytesSinceSnapshot += Frames.HEADER + reader.payload().remaining();
                    }
                    last = Math.max(last, expected);
                    expected++;
                }
                if (status == Frames.Status.END) {
                    continue;
                }
                long goodEnd = reader.frameStart();
                long cut = channel.size() - goodEnd;
                String why = switch (status) {
                    case TORN -> "a torn record";
                    case CORRUPT -> "a corrupt record";
                    default -> "a record out of sequence (expected " + expected + ")";
                };
                problems.add(file.getFileName() + ": " + why + " at byte " + goodEnd + "; truncated "
                        + cut + " bytes" + (i + 1 < segments.size() ? " and removed later segments" : ""));
                channel.truncate(goodEnd);
                channel.force(true);
                truncated += cut;
                for (Path later : segments.subList(i + 1, segments.size())) {
                    truncated += Files.size(later);
                    Files.delete(later);
                }
                fsyncDirectory(segmentDir);
                break;
            }
        }
        return new long[] {replayed, last, truncated};
    }

    // ---------------------------------------------------------------- files

    private static String name(long seq, String suffix) {
        return String.format("%020d%s", seq, suffix);
    }

    private static long seqOf(Path file) {
        String name = file.getFileName().toString();
        return Long.parseLong(name.substring(0, name.indexOf('.')));
    }

    private static List<Path> list(Path dir, String suffix) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(p -> p.getFileName().toString().endsWith(suffix)
                            && p.getFileName().toString().indexOf('.') == 20)
                    .sorted()
                    .toList();
        }
    }

    private static void fsyncDirectory(Path dir) throws IOException {
        try (FileChannel channel = FileChannel.open(dir, StandardOpenOption.READ)) {
            channel.force(true);
        }
    }
}
