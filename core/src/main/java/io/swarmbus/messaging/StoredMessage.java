package io.swarmbus.messaging;

import java.util.ArrayList;
import java.util.List;

/** A retained message and its deliveries, sorted by recipient. Guarded by the engine lock. */
final class StoredMessage {
    final Message message;
    final DeliveryState[] deliveries;
    /**
     * The message's encoded size, as {@code max_message_bytes} measures it: what a receive counts
     * toward {@code max_receive_bytes}. Kept, as measuring it again would mean encoding it again.
     */
    final int bytes;
    /** When the message's TTL ends (epoch ms), or {@link Long#MAX_VALUE} if it has none. */
    final long expiresAt;
    /** Deliveries not yet in a terminal state; at zero the message is history only. */
    int open;

    StoredMessage(Message message, int recipients, int bytes) {
        this.message = message;
        this.deliveries = new DeliveryState[recipients];
        this.bytes = bytes;
        this.expiresAt = message.expiresAt().map(java.time.Instant::toEpochMilli).orElse(Long.MAX_VALUE);
    }

    long id() {
        return message.id().value();
    }

    /** The delivery to {@code agent}, or null. */
    DeliveryState deliveryTo(AgentId agent) {
        int low = 0;
        int high = deliveries.length - 1;
        while (low <= high) {
            int mid = (low + high) >>> 1;
            int order = deliveries[mid].inbox.agent.compareTo(agent);
            if (order == 0) {
                return deliveries[mid];
            } else if (order < 0) {
                low = mid + 1;
            } else {
                high = mid - 1;
            }
        }
        return null;
    }

    /**
     * About the bytes the message takes in a snapshot: its content (one byte a character, as most
     * agent text is ASCII) plus a fixed allowance for the fields and each delivery.
     */
    long snapshotBytes() {
        return message.content().length() + 128L + 32L * deliveries.length;
    }

    List<AgentId> recipients() {
        List<AgentId> list = new ArrayList<>(deliveries.length);
        for (DeliveryState d : deliveries) {
            list.add(d.inbox.agent);
        }
        return list;
    }

    /** The message and its deliveries as a snapshot keeps them. */
    Event.Restored toRestored() {
        int n = deliveries.length;
        byte[] statuses = new byte[n];
        int[] attempts = new int[n];
        long[] deadlines = new long[n];
        for (int i = 0; i < n; i++) {
            DeliveryState d = deliveries[i];
            statuses[i] = (byte) d.status.ordinal();
            attempts[i] = d.attempts;
            deadlines[i] = d.deadline;
        }
        return new Event.Restored(message, recipients(), statuses, attempts, deadlines, bytes);
    }

    MessageRecord toRecord(long nowMillis) {
        List<DeliveryInfo> infos = new ArrayList<>(deliveries.length);
        for (DeliveryState d : deliveries) {
            infos.add(new DeliveryInfo(d.inbox.agent, d.visibleStatus(nowMillis), d.attempts));
        }
        return new MessageRecord(message, infos);
    }
}
