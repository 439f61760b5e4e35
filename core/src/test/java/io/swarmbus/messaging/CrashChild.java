package io.swarmbus.messaging;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The process {@link CrashRecoveryTest} kills: many threads send, receive, ack and nack until the
 * parent sends {@code kill -9}. Every outcome the bus confirmed is written to a log as soon as it is
 * confirmed: {@code S <id> <recipients>} for a send, {@code A <agent> <id>} for an ack.
 *
 * <p>Arguments: data directory, log file, producers, consumers.
 */
final class CrashChild {
    private final MessageBus bus;
    private final FileChannel log;

    private CrashChild(MessageBus bus, FileChannel log) {
        this.bus = bus;
        this.log = log;
    }

    static BusConfig config(Path dir, java.time.InstantSource clock) {
        return BusConfig.builder(dir)
                .segmentBytes(1 << 20)
                .snapshotAfterBytes(1 << 20)
                .historyMaxMessages(10_000_000)
                .maxDeliveries(1_000)
                .reaperInterval(Duration.ofMillis(20))
                .clock(clock)
                .build();
    }

    static AgentId consumer(int i) {
        return AgentId.of("consumer-" + i);
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        int producers = Integer.parseInt(args[2]);
        int consumers = Integer.parseInt(args[3]);
        MessageBus bus = MessageBus.open(config(dir, java.time.InstantSource.system()));
        FileChannel log = FileChannel.open(Path.of(args[1]), StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.APPEND);
        CrashChild child = new CrashChild(bus, log);
        for (int i = 0; i < consumers; i++) {
            bus.createInbox(consumer(i));
        }
        if (bus.groupMembers("consumers").isEmpty()) {
            bus.createGroup("consumers", java.util.stream.IntStream.range(0, consumers)
                    .mapToObj(CrashChild::consumer).toList());
        }
        for (int p = 0; p < producers; p++) {
            AgentId producer = AgentId.of("producer-" + p);
            bus.createInbox(producer);
            Thread.ofPlatform().start(() -> child.produce(producer, consumers));
        }
        for (int c = 0; c < consumers; c++) {
            AgentId consumer = consumer(c);
            Thread.ofPlatform().start(() -> child.consume(consumer));
        }
        // It keeps all history, so its state grows with the journal and the engine would seldom
        // snapshot on its own: take one often, so that kills land during snapshots too.
        Thread.ofPlatform().daemon().start(() -> {
            while (true) {
                try {
                    Thread.sleep(250);
                    bus.snapshot();
                } catch (InterruptedException | RuntimeException e) {
                    return;
                }
            }
        });
        System.out.println("READY");
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
    }

    private void produce(AgentId producer, int consumers) {
        Semaphore inFlight = new Semaphore(64);
        ThreadLocalRandom random = ThreadLocalRandom.current();
        for (long n = 0; ; n++) {
            inFlight.acquireUninterruptibly();
            Address to = n % 10 == 0 ? Address.group("consumers") : Address.agent(consumer(random.nextInt(consumers)));
            SendRequest request = SendRequest.builder(producer, to)
                    .content("{\"producer\":\"" + producer + "\",\"n\":" + n + ",\"pad\":\"" + "x".repeat(200) + "\"}")
                    .priority(Priority.ofLevel(random.nextInt(4)))
                    .build();
            bus.sendAsync(request).whenComplete((result, error) -> {
                inFlight.release();
                if (result != null) {
                    write("S " + result.id() + " " + result.recipients());
                }
            });
        }
    }

    private void consume(AgentId consumer) {
        ThreadLocalRandom random = ThreadLocalRandom.current();
        while (true) {
            List<Delivery> got = bus.receive(consumer, 32, Duration.ofSeconds(30), Duration.ofMillis(100));
            if (got.isEmpty()) {
                continue;
            }
            Delivery giveBack = got.size() > 1 && random.nextInt(10) == 0 ? got.getLast() : null;
            List<MessageId> toAck = got.stream().filter(d -> d != giveBack).map(Delivery::id).toList();
            AckResult result = bus.ackAsync(consumer, toAck).join();
            StringBuilder lines = new StringBuilder();
            for (MessageId id : result.acked()) {
                lines.append("A ").append(consumer).append(' ').append(id).append('\n');
            }
            write(lines.toString().stripTrailing());
            if (giveBack != null) {
                bus.nack(consumer, giveBack.id(), Duration.ZERO);
            }
        }
    }

    private synchronized void write(String lines) {
        if (lines.isEmpty()) {
            return;
        }
        try {
            ByteBuffer bytes = ByteBuffer.wrap((lines + "\n").getBytes(StandardCharsets.UTF_8));
            while (bytes.hasRemaining()) {
                log.write(bytes);
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
