package io.swarmbus.bench;

import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;
import io.swarmbus.messaging.Address;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.messaging.BusConfig;
import io.swarmbus.messaging.Delivery;
import io.swarmbus.messaging.MessageBus;
import io.swarmbus.messaging.MessageId;
import io.swarmbus.messaging.SendRequest;
import io.swarmbus.storage.FsyncPolicy;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;

/**
 * Load generator for the embedded engine, in-process: the workloads W1 (durable send), W2 (send,
 * receive, ack), W3 (open-loop latency), reopen time and heap per pending message. Every message
 * carries 1 KiB of content; the journal fsyncs with group commit unless {@code --fsync interval}.
 *
 * <pre>
 * java -jar bench/target/swarmbus-bench.jar [w1|w1-sync|w2|w3|reopen|all] [--seconds N] [--dir D]
 *      [--fsync always|interval]
 * </pre>
 */
public final class EngineLoad {
    private static final String CONTENT = "\"" + "x".repeat(1022) + "\"";
    private static final AgentId PRODUCER = AgentId.of("producer");

    private final Path root;
    private final int seconds;
    private final int warmupSeconds;
    private final FsyncPolicy fsync;

    private EngineLoad(Path root, int seconds, int warmupSeconds, FsyncPolicy fsync) {
        this.root = root;
        this.seconds = seconds;
        this.warmupSeconds = warmupSeconds;
        this.fsync = fsync;
    }

    /** Runs the workloads named on the command line. */
    public static void main(String[] args) throws Exception {
        String workload = "all";
        int seconds = 10;
        int warmup = 3;
        Path dir = Files.createTempDirectory("swarmbus-bench");
        FsyncPolicy fsync = FsyncPolicy.ALWAYS;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--seconds" -> seconds = Integer.parseInt(args[++i]);
                case "--warmup" -> warmup = Integer.parseInt(args[++i]);
                case "--dir" -> dir = Path.of(args[++i]);
                case "--fsync" -> fsync = FsyncPolicy.valueOf(args[++i].toUpperCase(Locale.ROOT));
                default -> workload = args[i];
            }
        }
        EngineLoad load = new EngineLoad(dir, seconds, warmup, fsync);
        System.out.printf("swarmbus engine load: %d cores, max heap %d MiB, JDK %s, fsync %s, %d s warm-up + %d s "
                        + "per run%n", Runtime.getRuntime().availableProcessors(), Runtime.getRuntime().maxMemory() >> 20,
                Runtime.version(), fsync.name().toLowerCase(Locale.ROOT), warmup, seconds);
        List<String> runs = workload.equals("all") ? List.of("w1", "w1-sync", "w2", "w3", "reopen") : List.of(workload);
        for (String run : runs) {
            switch (run) {
                case "w1" -> load.w1Async(32, 256);
                case "w1-sync" -> load.w1Sync(32);
                case "w2" -> load.w2(8, 8, 256);
                case "w3" -> load.w3(5_000);
                case "reopen" -> load.reopen(1_000_000);
                default -> throw new IllegalArgumentException("unknown workload " + run
                        + "; use w1, w1-sync, w2, w3, reopen or all");
            }
        }
    }

    private MessageBus open(String name) throws IOException {
        Path dir = root.resolve(name + "-" + System.nanoTime());
        Files.createDirectories(dir);
        return MessageBus.open(config(dir).build());
    }

    private BusConfig.Builder config(Path dir) {
        return BusConfig.builder(dir)
                .fsyncPolicy(fsync)
                .maxInboxDepth(50_000_000)
                .historyMaxMessages(0)
                .snapshotAfterBytes(Long.MAX_VALUE / 2)
                .snapshotOnClose(false);
    }

    private static SendRequest request(AgentId to) {
        return SendRequest.builder(PRODUCER, Address.agent(to)).content(CONTENT).build();
    }

    private static AgentId sink(int i) {
        return AgentId.of("sink-" + i);
    }

    // ---------------------------------------------------------------- W1

    /** W1: producers each keeping {@code window} asynchronous sends in flight. */
    private void w1Async(int producers, int window) throws Exception {
        try (MessageBus bus = open("w1")) {
            setUp(bus, producers);
            LongAdder done = new LongAdder();
            AtomicBoolean running = new AtomicBoolean(true);
            List<Thread> threads = new ArrayList<>();
            for (int p = 0; p < producers; p++) {
                AgentId to = sink(p);
                threads.add(Thread.ofPlatform().start(() -> {
                    Semaphore inFlight = new Semaphore(window);
                    while (running.get()) {
                        inFlight.acquireUninterruptibly();
                        bus.sendAsync(request(to)).whenComplete((r, e) -> {
                            inFlight.release();
                            done.increment();
                        });
                    }
                    inFlight.acquireUninterruptibly(window);
                }));
            }
            report("W1 durable send, " + producers + " producers x " + window + " in flight", done, running, threads);
        }
    }

    /** W1, synchronous: each sender waits for its message to be durable before the next. */
    private void w1Sync(int producers) throws Exception {
        try (MessageBus bus = open("w1sync")) {
            setUp(bus, producers);
            LongAdder done = new LongAdder();
            AtomicBoolean running = new AtomicBoolean(true);
            List<Thread> threads = new ArrayList<>();
            for (int p = 0; p < producers; p++) {
                AgentId to = sink(p);
                threads.add(Thread.ofPlatform().start(() -> {
                    while (running.get()) {
                        bus.send(request(to));
                        done.increment();
                    }
                }));
            }
            report("W1 durable send, " + producers + " synchronous senders", done, running, threads);
        }
    }

    private static void setUp(MessageBus bus, int sinks) {
        bus.createInbox(PRODUCER);
        for (int i = 0; i < sinks; i++) {
            bus.createInbox(sink(i));
        }
    }

    /** Warms up, then counts completions for the run's seconds, and stops the threads. */
    private void report(String name, LongAdder done, AtomicBoolean running, List<Thread> threads) throws Exception {
        Thread.sleep(warmupSeconds * 1_000L);
        long before = done.sum();
        long started = System.nanoTime();
        Thread.sleep(seconds * 1_000L);
        long count = done.sum() - before;
        double elapsed = (System.nanoTime() - started) / 1e9;
        running.set(false);
        for (Thread thread : threads) {
            thread.join();
        }
        System.out.printf("%-60s %,12.0f msg/s%n", name, count / elapsed);
    }

    // ---------------------------------------------------------------- W2

    /** W2: producers send, consumers receive up to {@code batch} at a time and ack. */
    private void w2(int producers, int consumers, int batch) throws Exception {
        try (MessageBus bus = open("w2")) {
            setUp(bus, consumers);
            LongAdder acked = new LongAdder();
            LongAdder sent = new LongAdder();
            AtomicBoolean running = new AtomicBoolean(true);
            List<Thread> threads = new ArrayList<>();
            for (int p = 0; p < producers; p++) {
                AgentId to = sink(p % consumers);
                threads.add(Thread.ofPlatform().start(() -> produceBounded(bus, to, running, sent)));
            }
            for (int c = 0; c < consumers; c++) {
                AgentId from = sink(c);
                threads.add(Thread.ofPlatform().start(() -> consume(bus, from, batch, running, acked)));
            }
            report("W2 send+receive+ack, " + producers + "p/" + consumers + "c, batch " + batch + " (acked)", acked,
                    running, threads);
            System.out.printf("%-60s %,12d messages sent in all%n", "", sent.sum());
        }
    }

    /** Keeps 256 sends in flight, pausing while the consumer's inbox is past 100,000 messages. */
    private static void produceBounded(MessageBus bus, AgentId to, AtomicBoolean running, LongAdder sent) {
        Semaphore inFlight = new Semaphore(256);
        while (running.get()) {
            if (bus.inboxStats(to).depth() > 100_000) {
                LockSupport.parkNanos(1_000_000);
                continue;
            }
            inFlight.acquireUninterruptibly();
            bus.sendAsync(request(to)).whenComplete((r, e) -> {
                inFlight.release();
                sent.increment();
            });
        }
        inFlight.acquireUninterruptibly(256);
    }

    /** Receives and acks, keeping up to four ack batches in flight. */
    private static void consume(MessageBus bus, AgentId from, int batch, AtomicBoolean running, LongAdder acked) {
        Semaphore acksInFlight = new Semaphore(4);
        while (running.get()) {
            List<Delivery> got = bus.receive(from, batch, Duration.ofSeconds(30), Duration.ofMillis(100));
            if (got.isEmpty()) {
                continue;
            }
            List<MessageId> ids = got.stream().map(Delivery::id).toList();
            acksInFlight.acquireUninterruptibly();
            bus.ackAsync(from, ids).whenComplete((r, e) -> {
                acksInFlight.release();
                if (r != null) {
                    acked.add(r.acked().size());
                }
            });
        }
        acksInFlight.acquireUninterruptibly(4);
    }

    // ---------------------------------------------------------------- W3

    /**
     * W3: one producer open-loop at {@code rate} messages/s to a long-polling receiver. Latency runs
     * from each message's scheduled send time, so a stalled producer shows up as latency
     * (no coordinated omission).
     */
    private void w3(int rate) throws Exception {
        try (MessageBus bus = open("w3")) {
            setUp(bus, 1);
            AgentId to = sink(0);
            long intervalNanos = 1_000_000_000L / rate;
            int warmup = rate * warmupSeconds;
            int total = warmup + rate * seconds;
            long[] latencies = new long[total];
            long[] durable = new long[total];
            Thread receiver = Thread.ofPlatform().start(() -> receiveTimed(bus, to, total, latencies));
            long start = System.nanoTime() + 10_000_000;
            for (int i = 0; i < total; i++) {
                long scheduled = start + i * intervalNanos;
                OpenLoop.waitUntil(scheduled);
                int n = i;
                bus.sendAsync(SendRequest.builder(PRODUCER, Address.agent(to)).content(CONTENT)
                        .header("n", Integer.toString(i)).header("scheduled", Long.toString(scheduled)).build())
                        .thenRun(() -> durable[n] = System.nanoTime() - scheduled);
            }
            receiver.join();
            long[] sends = Arrays.copyOfRange(durable, warmup, total);
            Arrays.sort(sends);
            System.out.printf("%-60s p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms%n",
                    "W3 send, scheduled -> durable (send answered)",
                    OpenLoop.percentile(sends, 0.50), OpenLoop.percentile(sends, 0.99), OpenLoop.percentile(sends, 0.999),
                    sends[sends.length - 1] / 1e6);
            long[] measured = Arrays.copyOfRange(latencies, warmup, total);
            Arrays.sort(measured);
            System.out.printf("%-60s p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms%n",
                    "W3 latency, open loop " + rate + " msg/s, scheduled send -> received",
                    OpenLoop.percentile(measured, 0.50), OpenLoop.percentile(measured, 0.99), OpenLoop.percentile(measured, 0.999),
                    measured[measured.length - 1] / 1e6);
            var disk = bus.stats().journal();
            System.out.printf("%-60s %,d fsyncs, mean %.3f ms, max %.3f ms, %d took 10 ms or more%n",
                    "W3 journal (whole run)", disk.fsyncs(), disk.fsyncNanos() / 1e6 / Math.max(1, disk.fsyncs()),
                    disk.maxFsyncNanos() / 1e6, disk.slowFsyncs());
        }
    }

    private static void receiveTimed(MessageBus bus, AgentId from, int total, long[] latencies) {
        int received = 0;
        while (received < total) {
            List<Delivery> got = bus.receive(from, 256, Duration.ofSeconds(30), Duration.ofSeconds(1));
            long now = System.nanoTime();
            for (Delivery delivery : got) {
                int n = Integer.parseInt(delivery.message().headers().get("n"));
                latencies[n] = now - Long.parseLong(delivery.message().headers().get("scheduled"));
            }
            received += got.size();
            if (!got.isEmpty()) {
                bus.ackAsync(from, got.stream().map(Delivery::id).toList());
            }
        }
    }

    // ---------------------------------------------------------------- reopen and heap

    /** Fills {@code pending} unacked messages, then reopens from the journal and from a snapshot. */
    private void reopen(int pending) throws Exception {
        Path dir = root.resolve("reopen-" + System.nanoTime());
        Files.createDirectories(dir);
        try (MessageBus bus = MessageBus.open(config(dir).build())) {
            setUp(bus, 16);
            List<CompletableFuture<?>> window = new ArrayList<>();
            for (int i = 0; i < pending; i++) {
                window.add(bus.sendAsync(request(sink(i % 16))));
                if (window.size() == 4096) {
                    CompletableFuture.allOf(window.toArray(CompletableFuture[]::new)).join();
                    window.clear();
                }
            }
            CompletableFuture.allOf(window.toArray(CompletableFuture[]::new)).join();
        }
        System.out.printf("%-60s %,12d MiB%n", "journal on disk", sizeOf(dir) >> 20);
        timeReopen(dir, pending, "reopen " + pending / 1000 + "k pending, journal replay", true);
        MessageBus.open(config(dir).snapshotOnClose(true).build()).close();
        timeReopen(dir, pending, "reopen " + pending / 1000 + "k pending, from snapshot", false);
    }

    /** Times an open; with {@code measureHeap}, reports the heap the recovered state holds. */
    private void timeReopen(Path dir, int pending, String name, boolean measureHeap) throws InterruptedException {
        long baseline = usedHeapAfterGc();
        long started = System.nanoTime();
        try (MessageBus bus = MessageBus.open(config(dir).build())) {
            long millis = (System.nanoTime() - started) / 1_000_000;
            if (measureHeap) {
                long heap = usedHeapAfterGc() - baseline;
                System.out.printf("%-60s %,12d bytes (%,d messages, %,d MiB in all)%n",
                        "heap per pending 1 KiB message (recovered state)", heap / pending, pending, heap >> 20);
            }
            int found = bus.inboxes().stream().filter(a -> a.value().startsWith("sink-"))
                    .mapToInt(a -> bus.inboxStats(a).pending()).sum();
            if (found != pending) {
                throw new SwarmbusException(ErrorCode.STORAGE_FAILURE, "reopen found " + found + " of " + pending);
            }
            System.out.printf("%-60s %,12d ms (recovery report: %s)%n", name, millis, bus.recovery());
        }
    }

    private static long usedHeapAfterGc() throws InterruptedException {
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(200);
        }
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }

    private static long sizeOf(Path dir) throws IOException {
        try (Stream<Path> files = Files.walk(dir)) {
            return files.filter(Files::isRegularFile).mapToLong(p -> p.toFile().length()).sum();
        }
    }
}
