package io.swarmbus.messaging;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;
import io.swarmbus.storage.FsyncPolicy;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Property test of ordering and lease semantics: random interleavings of send, receive, ack, nack,
 * time passing (lease and delay expiry, TTL), dead-letter replay and restarts (clean, or like a
 * crash), checked step by step against a plain model. Each seed is one case; a failure names its
 * seed and step so it can be replayed exactly.
 */
class MessageBusModelTest {
    private static final int STEPS = 60;
    private static final int MAX_DELIVERIES = 3;
    private static final AgentId SENDER = AgentId.of("sender");
    private static final AgentId INBOX = AgentId.of("inbox");

    @TempDir
    Path root;

    static Stream<Long> seeds() {
        return Stream.iterate(1L, s -> s + 1).limit(Long.getLong("model.seeds", 200L));
    }

    /** The model's view of one message in the inbox. */
    static final class Item {
        final long id;
        final int priority;
        final long expiresAt;
        DeliveryStatus status = DeliveryStatus.PENDING;
        int attempts;
        long deadline;

        Item(long id, int priority, long expiresAt) {
            this.id = id;
            this.priority = priority;
            this.expiresAt = expiresAt;
        }
    }

    /** What the bus should do, written as plainly as possible. */
    static final class Model {
        final Map<Long, Item> items = new LinkedHashMap<>();
        final List<Long> dead = new ArrayList<>();

        List<Item> receive(int max, long now, long visibility) {
            List<Item> chosen = new ArrayList<>();
            List<Item> pending = items.values().stream().filter(i -> i.status == DeliveryStatus.PENDING)
                    .sorted(Comparator.<Item>comparingInt(i -> -i.priority).thenComparingLong(i -> i.id)).toList();
            for (Item item : pending) {
                if (chosen.size() == max) {
                    break;
                }
                if (now >= item.expiresAt) {
                    item.status = DeliveryStatus.EXPIRED;
                    continue;
                }
                item.status = DeliveryStatus.LEASED;
                item.attempts++;
                item.deadline = now + visibility;
                chosen.add(item);
            }
            return chosen;
        }

        void endLease(Item item, long notBefore) {
            if (item.attempts >= MAX_DELIVERIES) {
                item.status = DeliveryStatus.DEAD_LETTERED;
                dead.add(item.id);
            } else if (notBefore > 0) {
                item.status = DeliveryStatus.DELAYED;
                item.deadline = notBefore;
            } else {
                item.status = DeliveryStatus.PENDING;
            }
        }

        void timersAt(long now) {
            List<Item> due = items.values().stream()
                    .filter(i -> (i.status == DeliveryStatus.LEASED || i.status == DeliveryStatus.DELAYED)
                            && i.deadline <= now)
                    .sorted(Comparator.<Item>comparingLong(i -> i.deadline).thenComparingLong(i -> i.id)).toList();
            for (Item item : due) {
                if (item.status == DeliveryStatus.LEASED) {
                    endLease(item, 0);
                } else {
                    item.status = DeliveryStatus.PENDING;
                }
            }
        }

        /** What reading an inbox's counts does: pending items past their TTL expire. */
        void expireDue(long now) {
            items.values().stream().filter(i -> i.status == DeliveryStatus.PENDING && now >= i.expiresAt)
                    .forEach(i -> i.status = DeliveryStatus.EXPIRED);
        }

        List<Item> withStatus(DeliveryStatus status) {
            return items.values().stream().filter(i -> i.status == status).toList();
        }
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void randomInterleavings_matchTheModel(long seed) throws IOException {
        Random random = new Random(seed);
        Path dir = Files.createDirectories(root.resolve("seed-" + seed));
        FakeClock clock = new FakeClock();
        BusConfig config = BusConfig.builder(dir).fsyncPolicy(FsyncPolicy.INTERVAL).clock(clock)
                .maxDeliveries(MAX_DELIVERIES).reaperInterval(Duration.ofHours(1)).build();
        Model model = new Model();
        MessageBus bus = MessageBus.open(config);
        bus.createInbox(SENDER);
        bus.createInbox(INBOX);
        try {
            for (int step = 0; step < STEPS; step++) {
                String at = "seed " + seed + " step " + step;
                int op = random.nextInt(100);
                if (op < 30) {
                    int priority = random.nextInt(4);
                    SendRequest.Builder request = SendRequest.builder(SENDER, Address.agent(INBOX))
                            .content(Long.toString(seed * 1000 + step)).priority(Priority.ofLevel(priority));
                    long ttl = random.nextInt(5) == 0 ? 2_000 : Long.MAX_VALUE / 2;
                    if (ttl < Long.MAX_VALUE / 2) {
                        request.ttl(Duration.ofMillis(ttl));
                    }
                    long id = bus.send(request.build()).id().value();
                    model.items.put(id, new Item(id, priority, clock.millis() + ttl));
                } else if (op < 55) {
                    int max = 1 + random.nextInt(4);
                    long visibility = random.nextBoolean() ? 1_000 : 5_000;
                    List<Delivery> got = bus.receive(INBOX, max, Duration.ofMillis(visibility), Duration.ZERO);
                    List<Item> expected = model.receive(max, clock.millis(), visibility);
                    assertThat(got).as(at + " receive ids").extracting(d -> d.id().value())
                            .containsExactlyElementsOf(expected.stream().map(i -> i.id).toList());
                    assertThat(got).as(at + " attempts").extracting(Delivery::attempt)
                            .containsExactlyElementsOf(expected.stream().map(i -> i.attempts).toList());
                } else if (op < 70) {
                    List<Item> leased = model.withStatus(DeliveryStatus.LEASED);
                    Item pick = pickOrAny(random, leased, model);
                    if (pick == null) {
                        continue;
                    }
                    AckResult result = MessageBus.await(bus.ackAsync(INBOX, List.of(new MessageId(pick.id))));
                    boolean held = pick.status == DeliveryStatus.LEASED;
                    assertThat(result.acked()).as(at + " ack").hasSize(held ? 1 : 0);
                    if (held) {
                        pick.status = DeliveryStatus.ACKED;
                    }
                } else if (op < 80) {
                    List<Item> leased = model.withStatus(DeliveryStatus.LEASED);
                    if (leased.isEmpty()) {
                        continue;
                    }
                    Item pick = leased.get(random.nextInt(leased.size()));
                    long delay = random.nextBoolean() ? 0 : 1_500;
                    bus.nack(INBOX, new MessageId(pick.id), Duration.ofMillis(delay));
                    model.endLease(pick, delay == 0 ? 0 : clock.millis() + delay);
                } else if (op < 90) {
                    clock.advance(Duration.ofMillis(500L * (1 + random.nextInt(8))));
                    ((Engine) bus).reap();
                    model.timersAt(clock.millis());
                } else if (op < 94) {
                    if (model.dead.isEmpty()) {
                        continue;
                    }
                    int index = random.nextInt(model.dead.size());
                    long id = model.dead.get(index);
                    if (model.items.get(id).expiresAt <= clock.millis()) {
                        // Past its ttl a dead letter is not replayed: it would expire undelivered.
                        MessageBus open = bus;
                        assertThatThrownBy(() -> open.replay(INBOX, new MessageId(id)))
                                .isInstanceOfSatisfying(SwarmbusException.class,
                                        e -> assertThat(e.code()).isEqualTo(ErrorCode.INVALID_STATE));
                        continue;
                    }
                    model.dead.remove(index);
                    bus.replay(INBOX, new MessageId(id));
                    Item item = model.items.get(id);
                    item.status = DeliveryStatus.PENDING;
                    item.attempts = 0;
                } else {
                    if (random.nextBoolean()) {
                        bus.close();
                    } else {
                        ((Engine) bus).abandon();
                    }
                    bus = MessageBus.open(config);
                }
                checkCounts(bus, model, clock.millis(), at);
            }
        } finally {
            bus.close();
        }
    }

    /** Mostly a leased item; sometimes any item, to check that acks of unleased ones are refused. */
    private static Item pickOrAny(Random random, List<Item> leased, Model model) {
        if (!leased.isEmpty() && random.nextInt(4) > 0) {
            return leased.get(random.nextInt(leased.size()));
        }
        List<Item> all = new ArrayList<>(model.items.values());
        return all.isEmpty() ? null : all.get(random.nextInt(all.size()));
    }

    private static void checkCounts(MessageBus bus, Model model, long now, String at) {
        InboxStats stats = bus.inboxStats(INBOX);
        model.expireDue(now);
        assertThat(stats.pending()).as(at + " pending").isEqualTo(model.withStatus(DeliveryStatus.PENDING).size());
        assertThat(stats.leased()).as(at + " leased").isEqualTo(model.withStatus(DeliveryStatus.LEASED).size());
        assertThat(stats.delayed()).as(at + " delayed").isEqualTo(model.withStatus(DeliveryStatus.DELAYED).size());
        assertThat(bus.deadLetters(INBOX)).as(at + " dead letters").extracting(r -> r.message().id().value())
                .containsExactlyInAnyOrderElementsOf(model.dead);
    }
}
