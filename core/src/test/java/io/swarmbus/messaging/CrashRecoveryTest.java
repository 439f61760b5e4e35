package io.swarmbus.messaging;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kills a child JVM with {@code kill -9} while many threads send, receive and ack, several times over
 * the same data directory, and checks after each crash that every confirmed send is present exactly
 * once and no confirmed ack is delivered again.
 */
class CrashRecoveryTest {
    private static final int PRODUCERS = 8;
    private static final int CONSUMERS = 4;
    private static final int CRASHES = 4;

    @TempDir
    Path dir;

    @Test
    void killMinus9_underLoad_losesNoConfirmedSendAndRedeliversNoConfirmedAck() throws Exception {
        Path data = dir.resolve("data");
        Path log = dir.resolve("outcomes.log");
        for (int crash = 1; crash <= CRASHES; crash++) {
            runAndKill(data, log, crash);
            verify(data, log, crash);
        }
    }

    /** Regression: a second process on the same data directory confirmed sends that a restart then lost. */
    @Test
    void aSecondProcess_isRefusedTheDataDirectory_untilTheFirstIsKilled() throws Exception {
        Path data = dir.resolve("data");
        Process child = startChild(data, dir.resolve("outcomes.log"), 1, 1);
        try {
            assertThat(awaitReady(child)).isEqualTo("READY");
            assertThatThrownBy(() -> MessageBus.open(BusConfig.builder(data).build()))
                    .isInstanceOf(io.swarmbus.storage.StorageException.class)
                    .hasMessage("data directory " + data + " is in use by another Swarmbus process");
        } finally {
            child.destroyForcibly(); // kill -9: the OS lets the lock go with the process
            assertThat(child.waitFor(30, TimeUnit.SECONDS)).isTrue();
        }
        try (MessageBus bus = MessageBus.open(BusConfig.builder(data).build())) {
            assertThat(bus.inboxes()).contains(CrashChild.consumer(0));
        }
    }

    private static Process startChild(Path data, Path log, int producers, int consumers) throws IOException {
        String java = ProcessHandle.current().info().command().orElseThrow();
        return new ProcessBuilder(java, "-Xmx512m", "-cp", System.getProperty("java.class.path"),
                CrashChild.class.getName(), data.toString(), log.toString(),
                String.valueOf(producers), String.valueOf(consumers))
                .redirectErrorStream(true)
                .start();
    }

    /** The child's first line that says it is ready (or null if it ended first), echoing those before. */
    private static String awaitReady(Process child) throws IOException {
        BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
        String line;
        while ((line = out.readLine()) != null && !line.equals("READY")) {
            System.out.println("child: " + line);
        }
        return line;
    }

    private void runAndKill(Path data, Path log, int crash) throws Exception {
        Process child = startChild(data, log, PRODUCERS, CONSUMERS);
        try {
            assertThat(awaitReady(child)).as("child of crash %d started", crash).isEqualTo("READY");
            Thread.sleep(ThreadLocalRandom.current().nextLong(500, 1500));
        } finally {
            child.destroyForcibly(); // SIGKILL on Linux: no shutdown hooks, no flush
            assertThat(child.waitFor(30, TimeUnit.SECONDS)).isTrue();
        }
    }

    /** Checks a copy, so the next child continues from exactly what the crash left. */
    private void verify(Path data, Path log, int crash) throws IOException {
        Path copy = dir.resolve("verify-" + crash);
        copyTree(data, copy);
        Map<MessageId, Integer> sends = new HashMap<>();
        Map<AgentId, Set<MessageId>> acks = new HashMap<>();
        for (String line : Files.readAllLines(log)) {
            String[] parts = line.split(" ");
            if (parts[0].equals("S")) {
                sends.put(MessageId.parse(parts[1]), Integer.parseInt(parts[2]));
            } else if (parts[0].equals("A")) {
                acks.computeIfAbsent(AgentId.of(parts[1]), a -> new HashSet<>()).add(MessageId.parse(parts[2]));
            }
        }
        assertThat(sends).as("confirmed sends before crash %d", crash).isNotEmpty();

        // An hour later every lease the child held has expired, so every unacked delivery comes back.
        Instant later = Instant.now().plus(Duration.ofHours(1));
        InstantSource clock = InstantSource.fixed(later);
        try (MessageBus bus = MessageBus.open(CrashChild.config(copy, clock))) {
            ((Engine) bus).reap();
            Map<AgentId, List<MessageId>> drained = drain(bus);
            Map<AgentId, Map<MessageId, Long>> redelivered = new HashMap<>();
            drained.forEach((agent, ids) -> redelivered.put(agent, ids.stream().collect(
                    java.util.stream.Collectors.groupingBy(id -> id, java.util.stream.Collectors.counting()))));

            for (Map.Entry<MessageId, Integer> send : sends.entrySet()) {
                MessageRecord record = bus.message(send.getKey()).orElse(null);
                assertThat(record).as("confirmed send %s after crash %d", send.getKey(), crash).isNotNull();
                assertThat(record.deliveries()).hasSize(send.getValue());
                for (DeliveryInfo delivery : record.deliveries()) {
                    boolean ackedBefore = acks.getOrDefault(delivery.recipient(), Set.of()).contains(send.getKey());
                    long times = redelivered.getOrDefault(delivery.recipient(), Map.of())
                            .getOrDefault(send.getKey(), 0L);
                    if (ackedBefore) {
                        assertThat(delivery.status()).isEqualTo(DeliveryStatus.ACKED);
                        assertThat(times).as("acked %s redelivered", send.getKey()).isZero();
                    } else if (delivery.status() != DeliveryStatus.ACKED) {
                        assertThat(times).as("unacked %s to %s delivered once", send.getKey(), delivery.recipient())
                                .isEqualTo(1);
                    }
                }
            }
            for (List<MessageId> ids : drained.values()) {
                assertThat(new HashSet<>(ids)).as("no message delivered twice in one drain").hasSize(ids.size());
            }
            System.out.printf("crash %d: %d confirmed sends, %d acks, %d redelivered after recovery (%s)%n", crash,
                    sends.size(), acks.values().stream().mapToInt(Set::size).sum(),
                    drained.values().stream().mapToInt(List::size).sum(), bus.recovery());
        }
    }

    private static Map<AgentId, List<MessageId>> drain(MessageBus bus) {
        Map<AgentId, List<MessageId>> got = new HashMap<>();
        for (int c = 0; c < CONSUMERS; c++) {
            AgentId consumer = CrashChild.consumer(c);
            List<MessageId> ids = new ArrayList<>();
            for (List<Delivery> batch = bus.receive(consumer, 1000); !batch.isEmpty(); batch = bus.receive(consumer, 1000)) {
                batch.forEach(d -> ids.add(d.id()));
            }
            got.put(consumer, ids);
        }
        return got;
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> files = Files.walk(from)) {
            for (Path source : (Iterable<Path>) files::iterator) {
                Files.copy(source, to.resolve(from.relativize(source).toString()));
            }
        }
    }
}
