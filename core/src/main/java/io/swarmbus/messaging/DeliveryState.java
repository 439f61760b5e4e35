package io.swarmbus.messaging;

import java.util.Comparator;

/** One recipient's copy of a message. Mutable, guarded by the engine lock. */
final class DeliveryState {
    /** Inbox order: higher priority first, then acceptance (id) order. */
    static final Comparator<DeliveryState> READY_ORDER = Comparator
            .<DeliveryState>comparingInt(d -> -d.stored.message.priority().level())
            .thenComparingLong(d -> d.stored.id());
    /** Timer order: earliest deadline first; ties broken so distinct deliveries never compare equal. */
    static final Comparator<DeliveryState> DEADLINE_ORDER = Comparator
            .<DeliveryState>comparingLong(d -> d.deadline)
            .thenComparingLong(d -> d.stored.id())
            .thenComparing(d -> d.inbox.agent);

    final StoredMessage stored;
    final Inbox inbox;
    DeliveryStatus status = DeliveryStatus.PENDING;
    int attempts;
    /** Lease end for LEASED, delay end for DELAYED (epoch ms); only changed while out of the timer set. */
    long deadline;
    /** Whether an entry for this delivery sits in the inbox's ready heap (possibly stale). */
    boolean inReady;
    /** Neighbours in its inbox's list of leased and delayed deliveries; null when not in it. */
    DeliveryState previousTimed;
    DeliveryState nextTimed;

    DeliveryState(StoredMessage stored, Inbox inbox) {
        this.stored = stored;
        this.inbox = inbox;
    }

    long id() {
        return stored.id();
    }

    /** The status as history shows it: a pending message past its TTL reads as expired. */
    DeliveryStatus visibleStatus(long nowMillis) {
        if (status == DeliveryStatus.PENDING && stored.message.expiresAt().isPresent()
                && stored.message.expiresAt().get().toEpochMilli() <= nowMillis) {
            return DeliveryStatus.EXPIRED;
        }
        return status;
    }
}
