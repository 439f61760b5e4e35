package io.swarmbus.storage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FileJournalTest {
    @TempDir
    Path dir;

    /** Collects what recovery feeds. */
    static final class Recorded implements RecoveryTarget {
        final List<String> snapshot = new ArrayList<>();
        final List<String> journal = new ArrayList<>();
        final List<Long> seqs = new ArrayList<>();
        int resets;

        @Override
        public void reset() {
            snapshot.clear();
            journal.clear();
            seqs.clear();
            resets++;
        }

        @Override
        public void snapshotRecord(ByteBuffer payload) {
            snapshot.add(StandardCharsets.UTF_8.decode(payload).toString());
        }

        @Override
        public void journalRecord(long seq, ByteBuffer payload) {
            seqs.add(seq);
            journal.add(StandardCharsets.UTF_8.decode(payload).toString());
        }
    }

    /** Remembers the highest durable sequence number. */
    static final class Durable implements DurabilityListener {
        final AtomicLong seq = new AtomicLong();
        volatile Throwable failure;

        @Override
        public void durable(long value) {
            seq.set(value);
        }

        @Override
        public void failed(Throwable cause) {
            failure = cause;
        }
    }

    FileJournal open(JournalConfig config, Recorded into) {
        FileJournal journal = FileJournal.open(config, new Durable());
        journal.recover(into);
        return journal;
    }

    static ByteBuffer text(String value) {
        return ByteBuffer.wrap(value.getBytes(StandardCharsets.UTF_8));
    }

    void write(JournalConfig config, String... records) {
        try (FileJournal journal = open(config, new Recorded())) {
            for (String record : records) {
                journal.append(text(record), true);
            }
        }
    }

    Path onlySegment() throws IOException {
        try (Stream<Path> files = Files.list(dir.resolve("journal"))) {
            return files.sorted().toList().getLast();
        }
    }

    /** Where a segment's records end: at its first header of zeros, or at its end. */
    static long writtenEnd(Path segment) throws IOException {
        try (FileChannel channel = FileChannel.open(segment, StandardOpenOption.READ)) {
            ByteBuffer header = ByteBuffer.allocate(Frames.HEADER);
            long at = 0;
            while (at + Frames.HEADER <= channel.size()) {
                channel.read(header.clear(), at);
                if (header.getInt(0) == 0 && header.getInt(4) == 0 && header.getLong(8) == 0) {
                    return at;
                }
                at += Frames.HEADER + header.getInt(0);
            }
            return at;
        }
    }

    /**
     * Opens the journal, checks that recovery found nothing wrong, appends {@code records} and
     * closes it; what recovery replayed.
     */
    Recorded recoverClean(JournalConfig config, String... records) {
        Recorded recorded = new Recorded();
        try (FileJournal journal = FileJournal.open(config, new Durable())) {
            assertThat(journal.recover(recorded).clean()).isTrue();
            for (String record : records) {
                journal.append(text(record), true);
            }
        }
        return recorded;
    }

    /** Writes {@code bytes} into {@code segment} at {@code at}, as a crash or a disk might have left them. */
    static void overwrite(Path segment, long at, ByteBuffer bytes) throws IOException {
        try (FileChannel channel = FileChannel.open(segment, StandardOpenOption.WRITE)) {
            channel.write(bytes, at);
        }
    }

    @Test
    void segments_arePreallocated_andAppendsResumeWhereTheRecordsEnd() throws IOException {
        JournalConfig config = JournalConfig.defaults(dir);
        write(config, "a", "b");
        Path segment = onlySegment();
        assertThat(Files.size(segment)).as("made full size up front").isEqualTo(config.segmentBytes());
        long end = writtenEnd(segment);
        assertThat(end).isEqualTo(2 * (Frames.HEADER + 1));

        recoverClean(config, "c");
        Recorded recorded = recoverClean(config);
        assertThat(recorded.journal).containsExactly("a", "b", "c");
        assertThat(writtenEnd(segment)).isEqualTo(end + Frames.HEADER + 1);
        assertThat(Files.size(segment)).isEqualTo(config.segmentBytes());
    }

    @Test
    void recover_dataPastUnwrittenSpace_isDiscardedAndReported() throws IOException {
        JournalConfig config = JournalConfig.defaults(dir);
        write(config, "a", "b");
        Path segment = onlySegment();
        long end = writtenEnd(segment);
        // A well-formed record of the next number past a gap of zeros: written, but never covered
        // by an fsync that returned, or the gap would hold data too.
        ByteBuffer stale = ByteBuffer.allocate(Frames.HEADER + 5);
        Frames.write(stale, 3, text("stale"));
        overwrite(segment, end + 4096, stale.flip());

        Recorded recorded = new Recorded();
        try (FileJournal journal = FileJournal.open(config, new Durable())) {
            RecoveryReport report = journal.recover(recorded);
            assertThat(report.problems()).singleElement().asString()
                    .contains("unwritten space followed by data at byte " + end);
            assertThat(report.truncatedBytes()).isEqualTo(4096 + Frames.HEADER + 5);
            assertThat(journal.append(text("c"), true)).isEqualTo(3);
        }
        assertThat(recorded.journal).containsExactly("a", "b");

        Recorded again = recoverClean(config);
        assertThat(again.journal).containsExactly("a", "b", "c");
    }

    @Test
    void recover_aSegmentWrittenBeforePreallocation_isExtendedAndAppendedTo() throws IOException {
        JournalConfig config = JournalConfig.defaults(dir);
        write(config, "a", "b");
        Path segment = onlySegment();
        long end = writtenEnd(segment);
        try (FileChannel channel = FileChannel.open(segment, StandardOpenOption.WRITE)) {
            channel.truncate(end); // how segments ended before they were preallocated
        }

        recoverClean(config, "c");
        assertThat(Files.size(segment)).isEqualTo(config.segmentBytes());
        assertThat(recoverClean(config).journal).containsExactly("a", "b", "c");
    }

    @Test
    void recover_anOlderSegmentEndingInZeros_isNotCorruption() throws IOException {
        // Made with 2 MiB segments, then reopened with 1 MiB ones: the first segment rolls at 1 MiB
        // and keeps the rest of its 2 MiB preallocation as zeros.
        JournalConfig bigger = new JournalConfig(dir, FsyncPolicy.ALWAYS, Duration.ofMillis(50), 2 << 20, 1 << 20);
        write(bigger, "first");
        JournalConfig smaller = new JournalConfig(dir, FsyncPolicy.ALWAYS, Duration.ofMillis(50), 1 << 20, 1 << 20);
        String big = "y".repeat(600_000);
        try (FileJournal journal = open(smaller, new Recorded())) {
            for (int i = 0; i < 3; i++) {
                long seq = journal.append(text(big), true);
                while (journal.durableSeq() < seq) {
                    Thread.onSpinWait();
                }
            }
        }
        try (Stream<Path> files = Files.list(dir.resolve("journal"))) {
            assertThat(files.count()).isGreaterThan(1);
        }

        Recorded recorded = new Recorded();
        try (FileJournal journal = FileJournal.open(smaller, new Durable())) {
            assertThat(journal.recover(recorded).problems()).isEmpty();
        }
        assertThat(recorded.journal).hasSize(4).first().isEqualTo("first");
    }

    @Test
    void recover_replaysEveryRecordInOrderWithItsSequenceNumber() {
        JournalConfig config = JournalConfig.defaults(dir);
        write(config, "a", "b", "c");

        Recorded recorded = new Recorded();
        try (FileJournal journal = FileJournal.open(config, new Durable())) {
            RecoveryReport report = journal.recover(recorded);
            assertThat(report.clean()).isTrue();
            assertThat(report.lastSeq()).isEqualTo(3);
            assertThat(journal.append(text("d"), true)).isEqualTo(4);
        }

        assertThat(recorded.journal).containsExactly("a", "b", "c");
        assertThat(recorded.seqs).containsExactly(1L, 2L, 3L);
    }

    @Test
    void append_becomesDurableThroughTheListener() throws Exception {
        CountDownLatch reached = new CountDownLatch(1);
        DurabilityListener listener = new DurabilityListener() {
            @Override
            public void durable(long seq) {
                if (seq >= 100) {
                    reached.countDown();
                }
            }

            @Override
            public void failed(Throwable cause) {}
        };
        try (FileJournal journal = FileJournal.open(JournalConfig.defaults(dir), listener)) {
            journal.recover(new Recorded());
            for (int i = 0; i < 100; i++) {
                journal.append(text("r" + i), true);
            }
            assertThat(reached.await(5, TimeUnit.SECONDS)).isTrue();
            assertThat(journal.durableSeq()).isEqualTo(100);
        }
    }

    @Test
    void append_fromManyThreads_sharesFsyncs() throws Exception {
        int threads = 16;
        int perThread = 200;
        FileJournal closed;
        try (FileJournal journal = open(JournalConfig.defaults(dir), new Recorded())) {
            closed = journal;
            List<Thread> appenders = new ArrayList<>();
            Object appendOrder = new Object();
            for (int t = 0; t < threads; t++) {
                appenders.add(Thread.ofPlatform().start(() -> {
                    for (int i = 0; i < perThread; i++) {
                        long seq;
                        synchronized (appendOrder) { // the engine serializes appends the same way
                            seq = journal.append(text("r"), true);
                        }
                        while (journal.durableSeq() < seq) {
                            Thread.onSpinWait();
                        }
                    }
                }));
            }
            for (Thread appender : appenders) {
                appender.join();
            }
            assertThat(journal.durableSeq()).isEqualTo(threads * perThread);
        }
        // Read once the writers are done: the other writer's fsync may still be running when a
        // later batch's fsync has already made everything durable.
        JournalStats stats = closed.stats();
        assertThat(stats.fsyncs()).as("group commit: fewer fsyncs than awaited appends")
                .isLessThan(threads * perThread);
        assertThat(stats.fsyncs()).isEqualTo(stats.batches());
    }

    @Test
    void append_notAwaited_waitsForTheNextAwaitedRecordOrTheInterval() throws Exception {
        JournalConfig config = new JournalConfig(dir, FsyncPolicy.ALWAYS, java.time.Duration.ofMillis(300),
                1 << 20, 1 << 20);
        try (FileJournal journal = open(config, new Recorded())) {
            long lazy = journal.append(text("lease"), false);
            Thread.sleep(50);
            assertThat(journal.durableSeq()).as("a lazy record alone is not flushed at once").isLessThan(lazy);

            long awaited = journal.append(text("ack"), true);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (journal.durableSeq() < awaited && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            assertThat(journal.durableSeq()).isEqualTo(awaited);

            long later = journal.append(text("another lease"), false);
            Thread.sleep(600);
            assertThat(journal.durableSeq()).as("flushed within the interval").isEqualTo(later);
        }
    }

    @Test
    void recover_tornTail_isTruncatedAndReported() throws IOException {
        JournalConfig config = JournalConfig.defaults(dir);
        write(config, "first", "second");
        Path segment = onlySegment();
        long goodEnd = writtenEnd(segment);
        // A frame header announcing 100 bytes, followed by only 10: the crash hit mid-write.
        ByteBuffer torn = ByteBuffer.allocate(26).putInt(100).putInt(12345).putLong(3);
        overwrite(segment, goodEnd, torn.put("0123456789".getBytes(StandardCharsets.UTF_8)).flip());

        Recorded recorded = new Recorded();
        try (FileJournal journal = FileJournal.open(config, new Durable())) {
            RecoveryReport report = journal.recover(recorded);
            assertThat(report.clean()).isFalse();
            assertThat(report.problems()).singleElement().asString().contains("torn record");
            assertThat(report.truncatedBytes()).isEqualTo(26);
            assertThat(journal.append(text("third"), true)).isEqualTo(3);
        }
        assertThat(recorded.journal).containsExactly("first", "second");

        Recorded again = new Recorded();
        open(config, again).close();
        assertThat(again.journal).containsExactly("first", "second", "third");
        assertThat(writtenEnd(segment)).isEqualTo(goodEnd + Frames.HEADER + 5);
    }

    @Test
    void recover_corruptRecord_isTruncatedThereAndReported() throws IOException {
        JournalConfig config = JournalConfig.defaults(dir);
        write(config, "one", "two", "three");
        Path segment = onlySegment();
        int secondRecordPayload = (16 + 3) + 16;
        try (FileChannel channel = FileChannel.open(segment, StandardOpenOption.WRITE)) {
            channel.write(ByteBuffer.wrap(new byte[] {'X'}), secondRecordPayload);
        }

        Recorded recorded = new Recorded();
        RecoveryReport report;
        try (FileJournal journal = FileJournal.open(config, new Durable())) {
            report = journal.recover(recorded);
        }

        assertThat(recorded.journal).containsExactly("one");
        assertThat(report.problems()).singleElement().asString()
                .contains("corrupt record at byte 19");
        assertThat(writtenEnd(segment)).isEqualTo(19);
    }

    @Test
    void recover_garbageLength_isCorruptNotAnAllocation() throws IOException {
        JournalConfig config = JournalConfig.defaults(dir);
        write(config, "one");
        overwrite(onlySegment(), writtenEnd(onlySegment()), ByteBuffer.allocate(32).putInt(Integer.MAX_VALUE).rewind());

        Recorded recorded = new Recorded();
        try (FileJournal journal = FileJournal.open(config, new Durable())) {
            assertThat(journal.recover(recorded).problems()).singleElement().asString().contains("corrupt");
        }
        assertThat(recorded.journal).containsExactly("one");
    }

    @Test
    void recover_corruptionInAnOlderSegment_dropsLaterSegmentsAndSaysSo() throws IOException {
        JournalConfig config = new JournalConfig(dir, FsyncPolicy.ALWAYS, JournalConfig.defaults(dir).fsyncInterval(),
                1 << 20, 1 << 20);
        String big = "y".repeat(600_000);
        try (FileJournal journal = open(config, new Recorded())) {
            for (int i = 0; i < 4; i++) {
                long seq = journal.append(text(big), true);
                while (journal.durableSeq() < seq) {
                    Thread.onSpinWait();
                }
            }
        }
        List<Path> segments;
        try (Stream<Path> files = Files.list(dir.resolve("journal"))) {
            segments = files.sorted().toList();
        }
        assertThat(segments).hasSizeGreaterThan(1);
        try (FileChannel channel = FileChannel.open(segments.getFirst(), StandardOpenOption.WRITE)) {
            channel.write(ByteBuffer.wrap(new byte[] {'X'}), 16 + 600_000 + 16 + 10);
        }

        Recorded recorded = new Recorded();
        RecoveryReport report;
        try (FileJournal journal = FileJournal.open(config, new Durable())) {
            report = journal.recover(recorded);
        }

        assertThat(recorded.journal).hasSize(1);
        assertThat(report.problems()).singleElement().asString().contains("removed later segments");
        try (Stream<Path> files = Files.list(dir.resolve("journal"))) {
            assertThat(files.count()).isEqualTo(1);
        }
    }

    @Test
    void snapshot_replacesOlderRecords_andReplayContinuesAfterIt() {
        JournalConfig config = JournalConfig.defaults(dir);
        try (FileJournal journal = open(config, new Recorded())) {
            journal.append(text("a"), true);
            long seq = journal.append(text("b"), true);
            journal.writeSnapshot(seq, sink -> sink.accept(text("state-after-b")));
            journal.append(text("c"), true);
        }

        Recorded recorded = new Recorded();
        RecoveryReport report;
        try (FileJournal journal = FileJournal.open(config, new Durable())) {
            report = journal.recover(recorded);
        }

        assertThat(report.snapshotSeq()).isEqualTo(2);
        assertThat(recorded.snapshot).containsExactly("state-after-b");
        assertThat(recorded.journal).containsExactly("c");
    }

    @Test
    void snapshot_corrupt_fallsBackToTheOneBefore() throws IOException {
        JournalConfig config = JournalConfig.defaults(dir);
        try (FileJournal journal = open(config, new Recorded())) {
            long first = journal.append(text("a"), true);
            journal.writeSnapshot(first, sink -> sink.accept(text("state-1")));
            long second = journal.append(text("b"), true);
            journal.writeSnapshot(second, sink -> sink.accept(text("state-2")));
        }
        Path newest;
        try (Stream<Path> files = Files.list(dir.resolve("snapshots"))) {
            newest = files.sorted().toList().getLast();
        }
        Files.write(newest, new byte[] {1, 2, 3}, StandardOpenOption.TRUNCATE_EXISTING);

        Recorded recorded = new Recorded();
        RecoveryReport report;
        try (FileJournal journal = FileJournal.open(config, new Durable())) {
            report = journal.recover(recorded);
        }

        assertThat(report.snapshotSeq()).isEqualTo(1);
        assertThat(report.problems()).singleElement().asString().contains("ignored");
        assertThat(recorded.resets).isEqualTo(1);
        assertThat(recorded.snapshot).containsExactly("state-1");
        assertThat(recorded.journal).containsExactly("b");
    }

    @Test
    void snapshot_unfinishedTempFile_isIgnoredAndRemoved() throws IOException {
        JournalConfig config = JournalConfig.defaults(dir);
        write(config, "a");
        Path temp = dir.resolve("snapshots").resolve(String.format("%020d.snap.tmp", 1));
        Files.write(temp, new byte[] {9, 9, 9});

        Recorded recorded = recoverClean(config);

        assertThat(recorded.journal).containsExactly("a");
        assertThat(temp).doesNotExist();
    }

    @Test
    void compaction_deletesCoveredFiles_andAHalfDeletedOneIsNeverReplayed() throws IOException {
        JournalConfig config = new JournalConfig(dir, FsyncPolicy.ALWAYS, Duration.ofMillis(50), 1 << 20, 64L << 20);
        String record = "r".repeat(100_000);
        try (FileJournal journal = open(config, new Recorded())) {
            for (int snapshot = 1; snapshot <= 3; snapshot++) {
                long seq = 0;
                for (int i = 0; i < 15; i++) {
                    seq = journal.append(text(record), true);
                }
                long at = seq;
                journal.writeSnapshot(at, sink -> sink.accept(text("state-" + at)));
            }
        }
        Path first = dir.resolve("journal").resolve(String.format("%020d.seg", 1));
        assertThat(first).as("covered by the older snapshot kept").doesNotExist();
        try (Stream<Path> files = Stream.concat(Files.list(dir.resolve("journal")), Files.list(dir.resolve("snapshots")))) {
            List<String> names = files.map(p -> p.getFileName().toString()).toList();
            assertThat(names).filteredOn(name -> name.endsWith(".snap"))
                    .containsExactlyInAnyOrder(String.format("%020d.snap", 30), String.format("%020d.snap", 45));
            assertThat(names).filteredOn(name -> name.endsWith(".seg")).hasSizeBetween(1, 3);
            assertThat(names).noneMatch(name -> name.endsWith(".deleting"));
        }
        // A crash in the middle of deleting leaves a renamed, shrunken file: the next open removes it.
        Path leftover = first.resolveSibling(first.getFileName() + ".deleting");
        Files.write(leftover, new byte[] {1, 2, 3});

        Recorded recorded = recoverClean(config);

        assertThat(leftover).doesNotExist();
        assertThat(recorded.snapshot).containsExactly("state-45");
        assertThat(recorded.journal).isEmpty();
        try (Stream<Path> files = Files.list(dir.resolve("journal"))) {
            assertThat(files.map(p -> p.getFileName().toString())).noneMatch(name -> name.endsWith(".deleting"));
        }
    }

    @Test
    void close_flushesBufferedAppends() {
        JournalConfig config = new JournalConfig(dir, FsyncPolicy.INTERVAL, java.time.Duration.ofHours(1),
                1 << 20, 1 << 20);
        write(config, "x", "y");

        Recorded recorded = new Recorded();
        open(config, recorded).close();

        assertThat(recorded.journal).containsExactly("x", "y");
    }

    @Test
    void aDataDirectoryThatCannotBeOpened_isRefusedSayingWhy() {
        java.nio.file.Path missing = dir.resolve("missing");
        assertThatThrownBy(() -> DirectoryLock.take(missing)).isInstanceOf(StorageException.class)
                .hasMessage("cannot open data directory " + missing + ": no such file or directory");
    }

    /** Regression: two servers on one data directory both confirmed sends, and a restart kept one's only. */
    @Test
    void open_whileAnotherJournalHoldsTheDirectory_isRefusedUntilItCloses() {
        JournalConfig config = JournalConfig.defaults(dir);
        FileJournal first = open(config, new Recorded());
        try {
            assertThatThrownBy(() -> FileJournal.open(config, new Durable()))
                    .isInstanceOf(StorageException.class)
                    .hasMessage("data directory " + dir + " is in use: it is open already in this process");
            assertThat(first.append(text("still mine"), true)).isEqualTo(1);
        } finally {
            first.close();
        }

        Recorded recorded = new Recorded();
        open(config, recorded).close();
        assertThat(recorded.journal).containsExactly("still mine");
    }
}
