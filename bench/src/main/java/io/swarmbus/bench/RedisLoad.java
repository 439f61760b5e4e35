package io.swarmbus.bench;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The peer the issue names, Redis Streams with {@code appendfsync always}, under the same three
 * workloads as {@link NetLoad}, so the two are compared side by side in one run
 * ({@code bench/peer-rounds.sh}). Each message is an {@code XADD} of one field holding the same
 * JSON a Swarmbus send carries (1 KiB of content); consumers use a consumer group
 * ({@code XREADGROUP}, then {@code XACK}), which is how seed 001's Redis Streams messaging receives.
 *
 * <pre>
 * redis-server --appendonly yes --appendfsync always --save '' &amp;
 * java -cp bench/target/swarmbus-bench.jar io.swarmbus.bench.RedisLoad w1|w2|w3
 *      [--port 6379] [--seconds 10] [--producers 32] [--rate 5000]
 * </pre>
 *
 * Printed lines have NetLoad's shape, so {@code bench/rounds.sh} reads their headline figures.
 */
public final class RedisLoad {
    private static final String CONTENT = "\"" + "x".repeat(1022) + "\"";
    private static final Pattern SCHEDULED = Pattern.compile("\"scheduled\":\"(\\d+)\"");
    private static final String GROUP = "g";

    private final String host;
    private final int port;
    private final int seconds;
    /** Streams this pass wrote: deleted when its workload ends, as NetLoad deletes its agents. */
    private final List<String> streams = new ArrayList<>();

    private RedisLoad(String host, int port, int seconds) {
        this.host = host;
        this.port = port;
        this.seconds = seconds;
    }

    public static void main(String[] args) throws Exception {
        String workload = "w1";
        String host = "127.0.0.1";
        int port = 6379;
        int seconds = 10;
        int producers = 32;
        int rate = 5_000;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--host" -> host = args[++i];
                case "--port" -> port = Integer.parseInt(args[++i]);
                case "--seconds" -> seconds = Integer.parseInt(args[++i]);
                case "--producers" -> producers = Integer.parseInt(args[++i]);
                case "--rate" -> rate = Integer.parseInt(args[++i]);
                default -> workload = args[i];
            }
        }
        RedisLoad load = new RedisLoad(host, port, seconds);
        try (RawRedis admin = load.connect()) {
            // The comparison is with a durable peer: refuse to measure one that answers before fsync.
            String appendOnly = setting(admin, "appendonly");
            String fsync = setting(admin, "appendfsync");
            if (!appendOnly.equals("yes") || !fsync.equals("always")) {
                throw new IllegalStateException("redis must run with appendonly yes and appendfsync always, has "
                        + appendOnly + " and " + fsync);
            }
            System.out.printf("redis streams load against %s:%d (appendfsync %s): %d cores here, JDK %s, %d s per run%n",
                    host, port, fsync, Runtime.getRuntime().availableProcessors(), Runtime.version(), seconds);
            switch (workload) {
                case "w1" -> load.w1(producers, 256);
                case "w2" -> load.w2(producers == 32 ? 8 : producers, 256);
                case "w3" -> load.w3(rate);
                default -> throw new IllegalArgumentException("unknown workload " + workload + "; use w1, w2 or w3");
            }
            if (!load.streams.isEmpty()) {
                List<String> delete = new ArrayList<>(List.of("DEL"));
                delete.addAll(load.streams);
                admin.call(delete.toArray(String[]::new));
            }
        }
    }

    private static String setting(RawRedis redis, String name) throws IOException {
        return redis.call("CONFIG", "GET", name) instanceof List<?> pair && pair.size() == 2
                ? String.valueOf(pair.get(1)) : "unknown";
    }

    private RawRedis connect() throws IOException {
        return new RawRedis(host, port);
    }

    private String stream(String name) {
        streams.add(name);
        return name;
    }

    /** The JSON a Swarmbus send of the same workload carries, plus {@code extra} fields. */
    private static String message(String from, String to, String extra) {
        return "{\"from\":\"" + from + "\",\"to\":\"" + to + "\",\"content\":" + CONTENT + extra + "}";
    }

    private static byte[] xadd(String stream, String message) {
        return RawRedis.command("XADD", stream, "*", "message", message);
    }

    /** W1: {@code producers} connections, each keeping {@code window} pipelined XADDs in flight. */
    private void w1(int producers, int window) throws Exception {
        WindowedProducers sending = new WindowedProducers(window, 1);
        for (int p = 0; p < producers; p++) {
            String to = stream("w1-sink-" + p);
            sending.start(producer(xadd(to, message("w1-producer", to, ""))));
        }
        double rate = WindowedProducers.perSecond(sending.sent, seconds);
        sending.stop();
        System.out.printf("%-62s %,12.0f msg/s%n", "W1 Redis XADD, appendfsync always, " + producers + " x " + window
                + " in flight", rate);
        sending.printRefusals();
    }

    /**
     * W2: {@code pairs} producers as in W1, each to its own stream, and a consumer per stream that
     * reads up to 256 entries a call and acks them in the next call's pipeline. Counts acks a second.
     */
    private void w2(int pairs, int window) throws Exception {
        WindowedProducers sending = new WindowedProducers(window, 1);
        LongAdder acked = new LongAdder();
        AtomicBoolean running = new AtomicBoolean(true);
        List<Thread> consumers = new ArrayList<>();
        for (int p = 0; p < pairs; p++) {
            String to = stream("w2-" + p);
            RawRedis consumer = group(to);
            consumers.add(Thread.ofPlatform().daemon().start(() -> consume(consumer, to, running, acked, null)));
            sending.start(producer(xadd(to, message("w2-producer", to, ""))));
        }
        double rate = WindowedProducers.perSecond(acked, seconds);
        sending.stop();
        running.set(false);
        for (Thread consumer : consumers) {
            consumer.join(10_000);
        }
        System.out.printf("%-62s %,12.0f msg/s%n", "W2 Redis XADD -> XREADGROUP -> XACK, " + pairs + " + " + pairs, rate);
        sending.printRefusals();
    }

    /** A new connection with a consumer group on {@code stream}, created empty if need be. */
    private RawRedis group(String stream) throws IOException {
        RawRedis consumer = connect();
        Object created = consumer.call("XGROUP", "CREATE", stream, GROUP, "$", "MKSTREAM");
        if (created instanceof RawRedis.Error error) {
            throw new IOException("XGROUP CREATE " + stream + ": " + error.message());
        }
        return consumer;
    }

    /**
     * Reads {@code stream} through the group until {@code running} falls: each call asks for up to
     * 256 new entries (waiting up to 1 s), and the XACK of the entries it got leaves in one write
     * with the next read. Each entry goes to {@code received}, when given, as it is read.
     */
    private static void consume(RawRedis redis, String stream, AtomicBoolean running, LongAdder acked,
            java.util.function.Consumer<String> received) {
        byte[] read = RawRedis.command("XREADGROUP", "GROUP", GROUP, "c", "COUNT", "256", "BLOCK", "1000", "STREAMS",
                stream, ">");
        boolean ackPending = false;
        try (redis) {
            while (running.get()) {
                redis.write(read);
                redis.flush();
                if (ackPending) {
                    Object count = redis.read();
                    if (count instanceof Long n) {
                        acked.add(n);
                    }
                }
                List<String> ids = new ArrayList<>();
                if (redis.read() instanceof List<?> perStream) {
                    for (Object streamReply : perStream) {
                        for (Object entry : (List<?>) ((List<?>) streamReply).get(1)) {
                            List<?> idAndFields = (List<?>) entry;
                            ids.add((String) idAndFields.get(0));
                            if (received != null) {
                                received.accept((String) ((List<?>) idAndFields.get(1)).get(1));
                            }
                        }
                    }
                }
                ackPending = !ids.isEmpty();
                if (ackPending) {
                    List<String> ack = new ArrayList<>(List.of("XACK", stream, GROUP));
                    ack.addAll(ids);
                    redis.write(RawRedis.command(ack.toArray(String[]::new)));
                }
            }
        } catch (IOException e) {
            if (running.get()) {
                System.err.println("consumer of " + stream + ": " + e);
            }
        }
    }

    /** W3: one producer open-loop at {@code rate}/s, one consumer waiting in XREADGROUP; latency from the schedule. */
    private void w3(int rate) throws Exception {
        String stream = stream("w3");
        int warmup = rate * 3;
        int total = warmup + rate * seconds;
        long[] latencies = new long[total];
        CountDownLatch done = new CountDownLatch(total);
        AtomicBoolean running = new AtomicBoolean(true);
        RawRedis consumer = group(stream);
        int[] index = {0};
        Thread.ofPlatform().daemon().start(() -> consume(consumer, stream, running, new LongAdder(), message -> {
            long now = System.nanoTime();
            Matcher scheduled = SCHEDULED.matcher(message);
            if (scheduled.find() && index[0] < total) {
                latencies[index[0]++] = now - Long.parseLong(scheduled.group(1));
                done.countDown();
            }
        }));
        try (RawRedis producer = connect()) {
            Thread.ofPlatform().daemon().start(() -> drain(producer));
            OpenLoop.send(rate, total, "  sender: scheduled -> command written", (i, scheduled) -> {
                producer.write(xadd(stream, message("w3-producer", stream,
                        ",\"headers\":{\"scheduled\":\"" + scheduled + "\"}")));
                producer.flush();
            });
            done.await();
        }
        running.set(false);
        long[] measured = Arrays.copyOfRange(latencies, warmup, total);
        OpenLoop.print("W3 Redis open loop " + rate + "/s, scheduled -> read", measured);
    }

    private static void drain(RawRedis redis) {
        try {
            while (true) {
                redis.read(); // XADD's ids are not measured here
            }
        } catch (IOException closed) {
            // the run is over
        }
    }

    /** A producer on a new connection, writing {@code command} over and over. */
    private WindowedProducers.Connection producer(byte[] command) throws IOException {
        RawRedis redis = connect();
        return new WindowedProducers.Connection() {
            @Override
            public void write() throws IOException {
                redis.write(command);
            }

            @Override
            public void flush() throws IOException {
                redis.flush();
            }

            @Override
            public WindowedProducers.Answer read() throws IOException {
                return redis.read() instanceof RawRedis.Error error ? new WindowedProducers.Answer(0, error.message())
                        : new WindowedProducers.Answer(1, "");
            }

            @Override
            public void close() throws IOException {
                redis.close();
            }
        };
    }
}
