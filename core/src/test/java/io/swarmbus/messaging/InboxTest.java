package io.swarmbus.messaging;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class InboxTest {
    private final Inbox inbox = new Inbox(AgentId.of("bob"));

    private DeliveryState pending(long id, Optional<Instant> expiresAt) {
        Message message = new Message(new MessageId(id), AgentId.of("alice"), inbox.address, MessageType.CHAT, "1",
                Priority.MEDIUM, Optional.empty(), Optional.empty(), Optional.empty(), Map.of(), Instant.EPOCH,
                expiresAt, Optional.empty());
        StoredMessage stored = new StoredMessage(message, 1, 10);
        DeliveryState d = new DeliveryState(stored, inbox);
        stored.deliveries[0] = d;
        inbox.addPending(d);
        return d;
    }

    /**
     * Leased and acked deliveries stay in the expiring heap until their TTL ends only while they
     * are few: past the live ones they are dropped, so the heap never holds messages long finished.
     */
    @Test
    void theExpiringHeap_dropsEntriesWhoseStatusMovedOn_onceTheyOutnumberTheLiveOnes() {
        List<DeliveryState> deliveries = new ArrayList<>();
        for (int i = 1; i <= 1000; i++) {
            deliveries.add(pending(i, Optional.of(Instant.ofEpochSecond(1000 - i % 7))));
        }
        pending(2000, Optional.empty());
        assertThat(inbox.expiring).hasSize(1000);

        for (int i = 0; i < deliveries.size(); i++) {
            DeliveryState d = deliveries.get(i);
            d.status = DeliveryStatus.LEASED;
            inbox.removePending(d);
            assertThat(inbox.expiring.size()).isLessThanOrEqualTo(2 * (deliveries.size() - 1 - i) + 64 + 1);
        }

        assertThat(inbox.pending).isEqualTo(1);
        assertThat(inbox.expiring.size()).isLessThanOrEqualTo(65);
        DeliveryState dropped = deliveries.stream().filter(d -> !d.inExpiring).findFirst().orElseThrow();
        dropped.status = DeliveryStatus.PENDING; // its lease ended: live again, and back in the heap
        inbox.addPending(dropped);
        assertThat(inbox.expiring).contains(dropped);
        assertThat(inbox.pending).isEqualTo(2);
    }
}
