package io.swarmbus.messaging;

import static org.assertj.core.api.Assertions.assertThat;

import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;
import io.swarmbus.storage.DurabilityListener;
import io.swarmbus.storage.Journal;
import io.swarmbus.storage.JournalStats;
import io.swarmbus.storage.RecoveryReport;
import io.swarmbus.storage.RecoveryTarget;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The engine against a journal whose durability the test controls: nothing is answered or
 * delivered before the journal says it is durable, and a journal failure fails what was waiting.
 */
class DurableBeforeVisibleTest {
    static final AgentId A = AgentId.of("a");
    static final AgentId B = AgentId.of("b");

    /** A journal that only becomes durable when told to. */
    static final class HeldJournal implements Journal {
        DurabilityListener listener;
        long last;
        volatile long durable;

        @Override
        public RecoveryReport recover(RecoveryTarget target) {
            return new RecoveryReport(0, 0, 0, 0, 0, List.of(), 0);
        }

        @Override
        public synchronized long append(ByteBuffer payload, boolean awaited) {
            return ++last;
        }

        void release() {
            durable = last;
            listener.durable(durable);
        }

        @Override
        public void awaitCapacity() {}

        @Override
        public synchronized long lastSeq() {
            return last;
        }

        @Override
        public long durableSeq() {
            return durable;
        }

        @Override
        public JournalStats stats() {
            return new JournalStats(0, 0, 0, 0, 0);
        }

        @Override
        public long bytesSinceSnapshot() {
            return 0;
        }

        @Override
        public void writeSnapshot(long seq, Consumer<Consumer<ByteBuffer>> source) {}

        @Override
        public void close() {}
    }

    @TempDir
    Path dir;
    final HeldJournal journal = new HeldJournal();
    Engine bus;

    @BeforeEach
    void open() throws IOException {
        BusConfig config = BusConfig.builder(dir).reaperInterval(Duration.ofHours(1)).snapshotOnClose(false).build();
        bus = Engine.open(config, listener -> {
            journal.listener = listener;
            return journal;
        });
        CompletableFuture<Void> created = CompletableFuture.runAsync(() -> {
            bus.createInbox(A);
            bus.createInbox(B);
        });
        while (!created.isDone()) {
            journal.release();
            Thread.onSpinWait();
        }
        created.join();
    }

    @AfterEach
    void close() {
        bus.close();
    }

    @Test
    void send_isNeitherAnsweredNorDeliveredBeforeItIsDurable() throws Exception {
        CompletableFuture<SendResult> sent = bus.sendAsync(SendRequest.builder(A, Address.agent(B)).content("1").build());
        CompletableFuture<List<Delivery>> waiting = bus.receiveAsync(B, 10, Duration.ofSeconds(30), Duration.ofSeconds(30));

        assertThat(sent).isNotDone();
        assertThat(bus.receive(B, 10)).isEmpty();
        assertThat(waiting).isNotDone();
        assertThat(bus.inboxStats(B).pending()).as("counts against the depth already").isEqualTo(1);

        journal.release();

        assertThat(sent.get(5, TimeUnit.SECONDS).recipients()).isEqualTo(1);
        assertThat(waiting.get(5, TimeUnit.SECONDS)).hasSize(1);
    }

    @Test
    void journalFailure_failsWaitingSendsAndRefusesNewOnes() {
        CompletableFuture<SendResult> sent = bus.sendAsync(SendRequest.builder(A, Address.agent(B)).content("1").build());
        assertThat(bus.unavailable()).isEmpty();

        journal.listener.failed(new IOException("disk gone"));

        assertThat(bus.unavailable()).hasValueSatisfying(reason -> assertThat(reason).contains("journal failed", "disk gone"));
        assertThat(sent).isCompletedExceptionally();
        assertThat(sent.handle((r, e) -> e instanceof java.util.concurrent.CompletionException ? e.getCause() : e)).isCompletedWithValueMatching(
                e -> e instanceof SwarmbusException s && s.code() == ErrorCode.STORAGE_FAILURE);
        try {
            bus.sendAsync(SendRequest.builder(A, Address.agent(B)).content("2").build());
        } catch (SwarmbusException e) {
            assertThat(e.code()).isEqualTo(ErrorCode.STORAGE_FAILURE);
            assertThat(e.retriable()).isTrue();
            return;
        }
        throw new AssertionError("a send after a journal failure must be refused");
    }
}
