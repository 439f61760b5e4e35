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
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * The embedded journal: segmented, checksummed, append-only files with group-commit fsync, plus
 * snapshots that bound recovery time and let old segments be deleted.
 *
 * <h2>Implementation notes</h2>
 * <ul>
 *   <li>Appenders copy frames into an in-memory batch under {@code lock}. A writer thread swaps
 *       the batch out, writes it with one {@code write}, fsyncs once, and reports the batch's last
 *       sequence number as durable: every append that arrived meanwhile rides the next batch
 *       (group commit), so fsyncs per second stay bounded while throughput grows with load.</li>
 *   <li>Under {@code ALWAYS} two writer threads take turns: while one waits for its fsync, the
 *       other may write the next batch and start its own fsync, which the disk runs alongside the
 *       first. A record that arrives during an fsync then waits for about one fsync rather than
 *       the rest of that one plus its own. Batches are taken and written one thread at a time
 *       ({@code writeOrder}), so the file holds them in sequence order; an fsync makes durable
 *       everything written to the file before it began, so whichever fsync returns reports its
 *       batch and all before it, and reports only ever move forward ({@link #reportDurable}).</li>
 *   <li>Each segment is made {@code segmentBytes} long when it is created, as a hole: the file's
 *       size then stays put while records fill it, and an fsync has only the data to write. When
 *       an append grows the file, ext4's fdatasync also writes the inode, a second I/O it waits
 *       for: on this project's test machine that made each fsync about a quarter slower, and the
 *       engine's median W3 latency with it (docs/benchmarks.md). A hole costs no disk space; the written
 *       part ends at the first header of zeros ({@link Frames}).</li>
 *   <li>Layout: {@code journal/<first seq>.seg} and {@code snapshots/<seq>.snap}, names zero-padded
 *       so that lexical order is numeric order. A snapshot is written to a temp file, fsynced,
 *       renamed, and the directory fsynced, so it is either whole or absent. An open journal
 *       holds {@code swarmbus.lock} locked ({@link DirectoryLock}): a second writer in the same
 *       directory would lose records that both had reported durable.</li>
 *   <li>Recovery reads the newest snapshot that is whole (an empty frame ends it), falls back to
 *       the one before, then replays later records. A frame with a bad length or checksum, a torn
 *       frame, or a gap in sequence numbers ends the good data: the file is truncated there, later
 *       segments are removed, and the report says so. Nothing of that is fatal. A segment's
 *       records may end in zeros, the unused rest of its preallocation; zeros followed by data
 *       count as a bad frame (data past a hole was never reported durable, since an fsync covers
 *       everything written before it).</li>
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
    /** Taking a batch and writing it, by one writer thread at a time, so batches land in order. */
    private final ReentrantLock writeOrder = new ReentrantLock();
    /** fsyncs of {@code segment} share it; rolling it to a new file waits for them. */
    private final ReentrantReadWriteLock segmentUse = new ReentrantReadWriteLock();
    private final Object reporting = new Object();
    private final List<Thread> writers = new ArrayList<>();
    private final AtomicInteger writersRunning = new AtomicInteger();
    private Thread syncer;
    private final LongAdder batches = new LongAdder();
    private final LongAdder fsyncs = new LongAdder();
    private final LongAdder fsyncNanos = new LongAdder();
    private final LongAdder slowFsyncs = new LongAdder();
    private final AtomicLong maxFsyncNanos = new AtomicLong();
    private boolean recovered;
    /** Held from open to close: one journal at a time writes in a directory. */
    private DirectoryLock directoryLock;

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
            throw new StorageException("cannot create data directory " + config.directory() + ": "
                    + StorageException.reason(e), e);
        }
        journal.directoryLock = DirectoryLock.take(config.directory());
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
            openActiveSegment(replay[3]);
            recovered = true;
            int writerCount = config.fsyncPolicy() == FsyncPolicy.ALWAYS ? 2 : 1;
            writersRunning.set(writerCount);
            for (int i = 0; i < writerCount; i++) {
                writers.add(Thread.ofPlatform().name("swarmbus-journal-writer-" + i).daemon().start(this::writeLoop));
            }
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
                long batchLastSeq;
                FileChannel toForce = null;
                writeOrder.lock();
                try {
                    batchLastSeq = takeBatch();
                    if (batchLastSeq == CLOSED) {
                        break;
                    }
                    // All I/O happens outside the append lock, so appenders never wait for the disk.
                    writeBatch(flushing.flip());
                    flushing.clear();
                    if (segmentSize >= config.segmentBytes()) {
                        rollSegment(batchLastSeq + 1); // forces the old segment, this batch with it
                    } else if (config.fsyncPolicy() == FsyncPolicy.ALWAYS) {
                        segmentUse.readLock().lock(); // before letting go of the order: no roll closes it meanwhile
                        toForce = segment;
                    }
                } finally {
                    writeOrder.unlock();
                }
                if (toForce != null) {
                    try {
                        force(toForce);
                    } finally {
                        segmentUse.readLock().unlock();
                    }
                }
                reportDurable(batchLastSeq);
            }
            if (writersRunning.decrementAndGet() == 0) {
                segmentUse.writeLock().lock();
                try {
                    segment.force(true);
                    segment.close();
                } finally {
                    segmentUse.writeLock().unlock();
                }
            }
        } catch (Throwable e) {
            fail(e);
        }
    }

    private static final long CLOSED = -1;

    /** Waits for a batch that is due and swaps it out; its last sequence number, or CLOSED. */
    private long takeBatch() throws InterruptedException {
        lock.lock();
        try {
            while (!flushDue() && !closing) {
                awaitWork();
            }
            if (active.position() == 0) {
                return CLOSED; // woken to close, with nothing left to write
            }
            ByteBuffer taken = active;
            active = flushing;
            flushing = taken;
            awaitedPending = false;
            full = false;
            hasRoom.signalAll();
            return lastSeq;
        } finally {
            lock.unlock();
        }
    }

    /** Reports {@code seq} durable unless a later fsync already reported past it. */
    private void reportDurable(long seq) {
        synchronized (reporting) {
            if (seq > durableSeq) {
                durableSeq = seq;
                listener.durable(seq);
            }
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
                    segmentUse.readLock().lock();
                    try {
                        if (segment.isOpen()) {
                            force(segment);
                        }
                    } finally {
                        segmentUse.readLock().unlock();
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
        if (config.fsyncPolicy() != FsyncPolicy.ALWAYS) {
            unforcedBytes.addAndGet(bytes);
        }
    }

    private void rollSegment(long firstSeq) throws IOException {
        segmentUse.writeLock().lock();
        try {
            segment.force(true);
            segment.close();
            createSegment(firstSeq);
        } finally {
            segmentUse.writeLock().unlock();
        }
    }

    private void createSegment(long firstSeq) throws IOException {
        Path file = segmentDir.resolve(name(firstSeq, SEGMENT_SUFFIX));
        segment = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
        segmentSize = 0;
        preallocate();
        fsyncDirectory(segmentDir);
    }

    /** Opens the newest segment to append after its {@code writtenEnd} bytes of records. */
    private void openActiveSegment(long writtenEnd) throws IOException {
        List<Path> segments = list(segmentDir, SEGMENT_SUFFIX);
        if (segments.isEmpty()) {
            createSegment(lastSeq + 1);
            return;
        }
        Path last = segments.getLast();
        segment = FileChannel.open(last, StandardOpenOption.WRITE);
        segmentSize = writtenEnd;
        segment.position(segmentSize);
        preallocate(); // a segment from before preallocation, or one cut short by recovery
    }

    /** Makes the active segment {@code segmentBytes} long if it is shorter, as a hole (class notes). */
    private void preallocate() throws IOException {
        if (segment.size() < config.segmentBytes()) {
            segment.write(ByteBuffer.allocate(1), config.segmentBytes() - 1);
            segment.force(true); // the new size now, so that no later fsync has it to write
        }
    }

    @Override
    public void close() {
        lock.lock();
        try {
            if (closing) {
                return;
            }
            closing = true;
            hasData.signalAll();
        } finally {
            lock.unlock();
        }
        try {
            for (Thread writer : writers) {
                writer.join();
            }
            if (syncer != null) {
                syncer.interrupt();
                syncer.join();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            directoryLock.close(); // after the writers: nothing of this journal writes once another may
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
        deleteGently(snapshotDir, snapshots.subList(0, snapshots.size() - SNAPSHOTS_KEPT));
        long floor = seqOf(snapshots.get(snapshots.size() - SNAPSHOTS_KEPT));
        List<Path> segments = list(segmentDir, SEGMENT_SUFFIX);
        List<Path> covered = new ArrayList<>();
        // A segment may go when the next one starts at or before floor + 1: all its records <= floor.
        for (int i = 0; i + 1 < segments.size(); i++) {
            if (seqOf(segments.get(i + 1)) <= floor + 1) {
                covered.add(segments.get(i));
            }
        }
        deleteGently(segmentDir, covered);
    }

    private static final String DELETING_SUFFIX = ".deleting";
    private static final long SHRINK_STEP = 8 << 20;

    /**
     * Deletes files of {@code dir} without stalling the journal's fsyncs. Unlinking a large file
     * frees all its blocks in one filesystem transaction, and an fsync committed meanwhile waits
     * for it: deleting four 64 MiB segments held a concurrent fsync for 14-16 ms on this project's
     * test machine (W3 saw the stall), shrinking them 8 MiB at a time first for under 3 ms. The
     * files are first renamed out of the journal's view, so a crash midway leaves no torn segment
     * or snapshot behind, only a file that the next open deletes.
     */
    private static void deleteGently(Path dir, List<Path> files) throws IOException {
        if (files.isEmpty()) {
            return;
        }
        List<Path> doomed = new ArrayList<>(files.size());
        for (Path file : files) {
            Path renamed = file.resolveSibling(file.getFileName() + DELETING_SUFFIX);
            Files.move(file, renamed, StandardCopyOption.ATOMIC_MOVE);
            doomed.add(renamed);
        }
        fsyncDirectory(dir);
        for (Path file : doomed) {
            try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
                for (long size = channel.size(); size > 0; ) {
                    size = Math.max(0, size - SHRINK_STEP);
                    channel.truncate(size);
                    channel.force(false);
                }
            }
            Files.delete(file);
        }
    }

    /** Deletes what a crash left halfway through {@link #deleteGently}. */
    private static void finishDeleting(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            for (Path file : files.filter(p -> p.getFileName().toString().endsWith(DELETING_SUFFIX)).toList()) {
                Files.delete(file);
            }
        }
    }

    /**
     * Writes a snapshot's frames, forcing them to disk a megabyte at a time. A snapshot can be
     * hundreds of megabytes; left to one fsync at the end (or to the kernel's writeback), the disk
     * spends a tenth of a second or more flushing it, and every journal fsync queued behind that
     * waited as long: W3 saw 60-90 ms stalls once a snapshot fell in its window. A megabyte takes
     * the disk about a millisecond, so a journal fsync now waits at most about that.
     */
    private static final class SnapshotWriter {
        private final FileChannel out;
        private ByteBuffer buffer = ByteBuffer.allocate(1 << 20);
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
            out.force(false);
        }
    }

    // ---------------------------------------------------------------- recovery

    /** Returns {snapshot seq, records read}. */
    private long[] loadSnapshot(RecoveryTarget target, List<String> problems) throws IOException {
        for (Path temp : list(snapshotDir, SNAPSHOT_SUFFIX + ".tmp")) {
            Files.deleteIfExists(temp);
        }
        finishDeleting(snapshotDir);
        finishDeleting(segmentDir);
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

    /** Returns {records replayed, last good seq, bytes truncated, where the newest segment's records end}. */
    private long[] replaySegments(long snapshotSeq, RecoveryTarget target, List<String> problems)
            throws IOException {
        List<Path> segments = list(segmentDir, SEGMENT_SUFFIX);
        long replayed = 0;
        long last = snapshotSeq;
        long truncated = 0;
        long writtenEnd = 0;
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
                long goodEnd = reader.frameStart();
                writtenEnd = goodEnd;
                long cut = writtenUntil(channel, goodEnd) - goodEnd;
                if (status == Frames.Status.END || status == Frames.Status.UNWRITTEN && cut == 0) {
                    // The end of the file, or the unused rest of its preallocation (an older segment
                    // has one too if segment_bytes shrank since it was made).
                    continue;
                }
                problems.add(file.getFileName() + ": " + badFrame(status, reader, cut, expected) + " at byte "
                        + goodEnd + "; truncated " + cut + " bytes"
                        + (i + 1 < segments.size() ? " and removed later segments" : ""));
                channel.truncate(goodEnd);
                channel.force(true);
                truncated += cut;
                for (Path later : segments.subList(i + 1, segments.size())) {
                    try (FileChannel laterChannel = FileChannel.open(later, StandardOpenOption.READ)) {
                        truncated += writtenUntil(laterChannel, 0);
                    }
                    Files.delete(later);
                }
                fsyncDirectory(segmentDir);
                break;
            }
        }
        return new long[] {replayed, last, truncated, writtenEnd};
    }

    /** What ended a segment's good data, for the report; {@code cut} bytes were written after it. */
    private static String badFrame(Frames.Status status, Frames.Reader reader, long cut, long expected) {
        return switch (status) {
            case TORN -> "a torn record";
            // In a preallocated segment a frame cut short by a crash reads as a whole one ending in
            // zeros, whose checksum fails: it is torn if the data stops before its announced end.
            case CORRUPT -> reader.length() >= 0 && reader.length() <= Frames.MAX_PAYLOAD
                    && Frames.HEADER + (long) reader.length() > cut ? "a torn record" : "a corrupt record";
            case UNWRITTEN -> "unwritten space followed by data";
            default -> "a record out of sequence (expected " + expected + ")";
        };
    }

    /**
     * Where the bytes of {@code channel} from {@code from} on stop being zeros: just past the last
     * non-zero byte, or {@code from} if there is none (a preallocated segment's unused rest).
     */
    private static long writtenUntil(FileChannel channel, long from) throws IOException {
        if (from >= channel.size()) {
            return from; // a segment read to its end: nothing to scan, no buffers to allocate
        }
        byte[] zeros = new byte[1 << 20];
        ByteBuffer buffer = ByteBuffer.allocate(zeros.length);
        long until = from;
        for (long at = from; at < channel.size(); ) {
            buffer.clear();
            int read = channel.read(buffer, at);
            if (read < 0) {
                break;
            }
            if (Arrays.mismatch(buffer.array(), 0, read, zeros, 0, read) >= 0) {
                int last = read - 1;
                while (buffer.get(last) == 0) {
                    last--;
                }
                until = at + last + 1;
            }
            at += read;
        }
        return until;
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
