package io.swarmbus.messaging;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;

class HistoryLogTest {
    private static final AgentId SENDER = AgentId.of("sender");
    /** Small chunks, so that a few records cross chunk boundaries. */
    private final HistoryLog log = new HistoryLog(256, ByteBuffer::allocateDirect);

    private static ByteBuffer payload(String text) {
        return ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
    }

    private static String text(ByteBuffer payload) {
        return StandardCharsets.UTF_8.decode(payload.duplicate()).toString();
    }

    @Test
    void recordsLeaveInTheOrderTheyCame_andChunksAreReused() {
        for (int i = 0; i < 100; i++) {
            log.add(i, 1000 + i, payload("record-" + i), SENDER, List.of());
        }
        assertThat(log.size()).isEqualTo(100);
        long all = log.bytes();

        for (int i = 0; i < 90; i++) {
            assertThat(log.oldestAcceptedAt()).isEqualTo(1000 + i);
            log.dropOldest();
        }

        assertThat(log.size()).isEqualTo(10);
        assertThat(log.bytes()).isLessThan(all).isPositive();
        assertThat(text(log.find(95))).isEqualTo("record-95");
        assertThat(log.find(5)).isNull();
        for (int i = 100; i < 200; i++) {
            log.add(i, 1000 + i, payload("record-" + i), SENDER, List.of());
        }
        assertThat(text(log.find(150))).isEqualTo("record-150");
        assertThat(text(log.find(91))).isEqualTo("record-91");
    }

    @Test
    void aRecordLargerThanAChunk_getsAChunkOfItsOwn() {
        String big = "x".repeat(1000);
        log.add(1, 1, payload("small"), SENDER, List.of());
        log.add(2, 2, payload(big), SENDER, List.of());
        log.add(3, 3, payload("after"), SENDER, List.of());

        assertThat(text(log.find(2))).isEqualTo(big);
        assertThat(log.newest(3, List.of(), Optional.empty(), p -> true)).extracting(HistoryLog.Entry::id).containsExactly(3L, 2L, 1L);
    }

    @Test
    void newest_givesTheHighestIdsThatMatch_evenWhenRecordsFinishedOutOfIdOrder() {
        Random random = new Random(7);
        for (int round = 0; round < 50; round++) {
            HistoryLog shuffled = new HistoryLog(128 + random.nextInt(512), ByteBuffer::allocateDirect);
            List<Long> ids = new ArrayList<>();
            long next = 0;
            for (int i = 0; i < 300; i++) {
                // Ids mostly rising, some finishing far out of order, as acks arrive.
                long id = random.nextInt(5) == 0 ? random.nextInt(300) * 10L : (next += 10);
                if (!ids.contains(id)) {
                    ids.add(id);
                    shuffled.add(id, id, payload("m" + id), SENDER, List.of());
                }
            }
            for (int drop = random.nextInt(100); drop > 0; drop--) {
                shuffled.dropOldest();
                ids.removeFirst();
            }
            int limit = 1 + random.nextInt(40);
            Predicate<ByteBuffer> even = p -> Long.parseLong(text(p).substring(1)) % 20 == 0;

            List<Long> expected = ids.stream().filter(id -> id % 20 == 0)
                    .sorted(Comparator.reverseOrder()).limit(limit).toList();
            assertThat(shuffled.newest(limit, List.of(), Optional.empty(), even)).as("round %d", round)
                    .extracting(HistoryLog.Entry::id).containsExactlyElementsOf(expected);
        }
    }

    @Test
    void whenDirectMemoryRunsOut_theOldestRecordsGiveWay() {
        AtomicInteger chunksLeft = new AtomicInteger(3);
        HistoryLog limited = new HistoryLog(256, bytes -> {
            if (chunksLeft.getAndDecrement() <= 0) {
                throw new OutOfMemoryError("Cannot reserve " + bytes + " bytes of direct buffer memory");
            }
            return ByteBuffer.allocateDirect(bytes);
        });

        for (int i = 0; i < 100; i++) {
            assertThat(limited.add(i, i, payload("record-" + i), SENDER, List.of())).isTrue();
        }

        assertThat(limited.size()).isBetween(10, 40);
        assertThat(text(limited.find(99))).isEqualTo("record-99");
        assertThat(limited.find(0)).isNull();
        assertThat(limited.add(100, 100, payload("x".repeat(300)), SENDER, List.of())).as("larger than any free chunk").isFalse();
        assertThat(limited.size()).as("gave way, yet this one did not fit").isZero();
        assertThat(limited.add(101, 101, payload("record-101"), SENDER, List.of())).isTrue();
    }

    @Test
    void newest_skipsChunksWithoutTheAgentsAskedFor() {
        AgentId alice = AgentId.of("alice");
        AgentId bob = AgentId.of("bob");
        AgentId carol = AgentId.of("carol");
        for (int i = 0; i < 60; i++) {
            log.add(i, i, payload("a-b-" + i), alice, List.of(bob));
        }
        log.add(60, 60, payload("carol-alone"), carol, List.of());
        List<String> decoded = new ArrayList<>();
        Predicate<ByteBuffer> carols = p -> {
            decoded.add(text(p));
            return text(p).startsWith("carol");
        };

        assertThat(log.newest(10, List.of(carol), Optional.empty(), carols)).extracting(HistoryLog.Entry::id).containsExactly(60L);
        assertThat(decoded).as("only the chunk with carol's record was read").contains("carol-alone").hasSizeLessThan(10);
        assertThat(log.newest(3, List.of(alice, bob), Optional.empty(), p -> text(p).startsWith("a-b-"))).extracting(HistoryLog.Entry::id)
                .containsExactly(59L, 58L, 57L);
        assertThat(log.newest(3, List.of(bob, AgentId.of("dave")), Optional.empty(), p -> true)).isEmpty();

        decoded.clear();
        assertThat(log.newest(10, List.of(), Optional.of(Set.of(carol, AgentId.of("dave"))), carols))
                .extracting(HistoryLog.Entry::id).containsExactly(60L);
        assertThat(decoded).as("any of: only the chunk with carol's record was read").contains("carol-alone")
                .hasSizeLessThan(10);
        assertThat(log.newest(10, List.of(), Optional.of(Set.of()), p -> true)).as("any of none").isEmpty();
    }

    @Test
    void pinnedRecords_stayReadableWhileDroppedAndOverwritten() {
        for (int i = 0; i < 20; i++) {
            log.add(i, i, payload("old-" + i), SENDER, List.of());
        }
        HistoryLog.Pinned pinned = log.pin();

        for (int i = 0; i < 20; i++) {
            log.dropOldest();
        }
        for (int i = 20; i < 60; i++) {
            log.add(i, i, payload("new-" + i), SENDER, List.of());
        }

        List<String> read = new ArrayList<>();
        pinned.forEachPayload(p -> read.add(text(p)));
        assertThat(read).hasSize(20).startsWith("old-0").endsWith("old-19");
        log.release(pinned);
        log.clear();
        assertThat(log.size()).isZero();
        assertThat(log.bytes()).isZero();
        assertThat(log.newest(5, List.of(), Optional.empty(), p -> true)).isEmpty();
    }
}
