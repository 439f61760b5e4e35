package io.swarmbus.bench;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;

/**
 * The throughput workloads' producers, for Swarmbus ({@link NetLoad}) and its peer
 * ({@link RedisLoad}) alike: each has a connection of its own and keeps up to {@code window}
 * messages in flight on it until {@link #stop}, in requests of {@code unit} messages (a
 * {@code send_batch} frame, or one pipelined command). Every request is answered once, in order.
 */
final class WindowedProducers {
    /** One producer's connection. */
    interface Connection {
        /** Queues the next request; it leaves with the next {@link #flush} or a full buffer. */
        void write() throws IOException;

        void flush() throws IOException;

        /** Reads the next answer; null when the connection has ended. */
        Answer read() throws IOException;

        void close() throws IOException;
    }

    /** How many of a request's messages were accepted, and the answer's text to show if not all were. */
    record Answer(int accepted, String text) {}

    final LongAdder sent = new LongAdder();
    private final LongAdder refused = new LongAdder();
    private final AtomicBoolean running = new AtomicBoolean(true);
    private final List<Thread> threads = new ArrayList<>();
    private final int window;
    private final int unit;
    private volatile String lastError = "";

    WindowedProducers(int window, int unit) {
        if (window % unit != 0) {
            throw new IllegalArgumentException("--batch must divide the window of " + window);
        }
        this.window = window;
        this.unit = unit;
    }

    /** Starts a producer on {@code connection}: one thread writes, one reads the answers. */
    void start(Connection connection) {
        Semaphore inFlight = new Semaphore(window);
        threads.add(Thread.ofPlatform().daemon().start(() -> {
            try {
                for (Answer answer = connection.read(); answer != null; answer = connection.read()) {
                    sent.add(answer.accepted());
                    if (answer.accepted() < unit) {
                        refused.add(unit - answer.accepted());
                        String text = answer.text();
                        lastError = text.length() > 300 ? text.substring(0, 300) + "..." : text;
                    }
                    inFlight.release(unit);
                }
            } catch (IOException e) {
                if (running.get()) { // else the connection closed at the end of the run, as it should
                    lastError = e.toString();
                }
            }
        }));
        threads.add(Thread.ofPlatform().daemon().start(() -> {
            try {
                while (running.get()) {
                    // Flush only when the window is full, so requests queued meanwhile share a write.
                    if (!inFlight.tryAcquire(unit)) {
                        connection.flush();
                        inFlight.acquireUninterruptibly(unit);
                    }
                    connection.write();
                }
                connection.flush();
                inFlight.acquireUninterruptibly(window);
                connection.close();
            } catch (IOException e) {
                lastError = e.toString();
            }
        }));
    }

    /** How fast {@code counter} rises over {@code seconds}, measured after 3 s for the load to settle. */
    static double perSecond(LongAdder counter, int seconds) throws InterruptedException {
        Thread.sleep(3_000);
        long before = counter.sum();
        long started = System.nanoTime();
        Thread.sleep(seconds * 1_000L);
        return (counter.sum() - before) / ((System.nanoTime() - started) / 1e9);
    }

    void stop() throws InterruptedException {
        running.set(false);
        for (Thread thread : threads) {
            thread.join(10_000);
        }
    }

    void printRefusals() {
        if (refused.sum() > 0) {
            System.out.printf("%-62s %,12d refused; last: %s%n", "", refused.sum(), lastError);
        }
    }
}
