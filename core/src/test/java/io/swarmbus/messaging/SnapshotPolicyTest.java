package io.swarmbus.messaging;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * When the engine snapshots on its own: not while the state grows as fast as the journal (a
 * snapshot would rewrite it all and free nothing), and once the journal holds more than the
 * state it would write.
 */
class SnapshotPolicyTest {
    static final AgentId PRODUCER = AgentId.of("producer");
    static final AgentId CONSUMER = AgentId.of("consumer");
    static final String KIB = "x".repeat(1024);

    @TempDir
    Path dir;

    @Test
    void noSnapshotWhileMessagesPileUp_oneOnceTheyAreConsumed() throws Exception {
        try (MessageBus bus = open(Duration.ofHours(1))) {
            Engine engine = (Engine) bus;
            sendKibs(bus, 4_000); // about 4 MiB of journal, all of it still pending
            engine.reap();
            engine.awaitBackgroundSnapshot();
            assertThat(snapshots()).as("a snapshot would rewrite every pending message").isZero();

            consumeAll(bus);
            engine.reap();
            engine.awaitBackgroundSnapshot();
            assertThat(snapshots()).as("consumed, the state is ten messages of history").isEqualTo(1);
        }
    }

    @Test
    void aSnapshotThatFails_leavesTheTimersRunning() throws Exception {
        try (MessageBus bus = open(Duration.ofMillis(10))) {
            Engine engine = (Engine) bus;
            // Snapshots cannot be written: their directory is now a file.
            try (Stream<Path> files = Files.list(dir.resolve("snapshots"))) {
                for (Path file : files.toList()) {
                    Files.delete(file);
                }
            }
            Files.delete(dir.resolve("snapshots"));
            Files.writeString(dir.resolve("snapshots"), "not a directory");
            sendKibs(bus, 2_000);
            consumeAll(bus);
            Thread.sleep(200); // the reaper has tried a snapshot by now, and it failed
            engine.awaitBackgroundSnapshot();

            MessageId leased = bus.send(SendRequest.builder(PRODUCER, Address.agent(CONSUMER)).content("x").build()).id();
            assertThat(bus.receive(CONSUMER, 1, Duration.ofMillis(50), Duration.ZERO)).hasSize(1);

            assertThat(bus.receive(CONSUMER, 1, Duration.ofMinutes(1), Duration.ofSeconds(5)))
                    .as("the lease ended: the reaper still runs").singleElement()
                    .satisfies(d -> assertThat(d.id()).isEqualTo(leased));
        }
    }

    /** A bus that snapshots after 1 MiB of journal and keeps ten messages of history. */
    private MessageBus open(Duration reaperInterval) {
        MessageBus bus = MessageBus.open(BusConfig.builder(dir).snapshotAfterBytes(1 << 20).historyMaxMessages(10)
                .reaperInterval(reaperInterval).snapshotOnClose(false).build());
        bus.createInbox(PRODUCER);
        bus.createInbox(CONSUMER);
        return bus;
    }

    private static void sendKibs(MessageBus bus, int count) {
        for (int i = 0; i < count; i++) {
            bus.send(SendRequest.builder(PRODUCER, Address.agent(CONSUMER)).content(KIB).build());
        }
    }

    private static void consumeAll(MessageBus bus) {
        List<Delivery> got;
        while (!(got = bus.receive(CONSUMER, 500, Duration.ofMinutes(1), Duration.ZERO)).isEmpty()) {
            bus.ackAsync(CONSUMER, got.stream().map(Delivery::id).toList()).join();
        }
    }

    private long snapshots() throws IOException {
        try (Stream<Path> files = Files.list(dir.resolve("snapshots"))) {
            return files.filter(f -> f.toString().endsWith(".snap")).count();
        }
    }
}
