package io.swarmbus.messaging;

import java.util.Comparator;

/** One recipient's copy of a message. Mutable, guarded by the engine lock. */
final class DeliveryState {
    /**
     * Inbox order: higher priority first, then acceptance (id) order. Written out rather than
     * chained from {@code Comparator.comparing...}: every send, lease and ack walks a heap or a
     * tree of deliveries, and with the chained lambdas those walks were 9.4% of the server's CPU in
     * W2, 3.6% without (docs/benchmarks.md).
     */
    static final Comparator<DeliveryState> READY_ORDER = (a, b) -> {
        int byPriority = Integer.compare(b.stored.message.priority().level(), a.stored.message.priority().level());
        return byPriority != 0 ? byPriority : Long.compare(a.stored.id(), b.stored.id());
    };
    /** Expiry order: the message whose TTL ends first, first; within an inbox no two compare equal. */
    static final Comparator<DeliveryState> EXPIRY_ORDER = (a, b) -> {
        int order = Long.compare(a.stored.expiresAt, b.stored.expiresAt);
        return order != 0 ? order : Long.compare(a.stored.id(), b.stored.id());
    };
    /** Timer order: earliest deadline first; ties broken so distinct deliveries never compare equal. */
    static final Comparator<DeliveryState> DEADLINE_ORDER = (a, b) -> {
        int order = Long.compare(a.deadline, b.deadline);
        if (order == 0) {
            order = Long.compare(a.stored.id(), b.stored.id());
        }
        return order != 0 ? order : a.inbox.agent.compareTo(b.inbox.agent);
    };

    final StoredMessage stored;
    final Inbox inbox;
    DeliveryStatus status = DeliveryStatus.PENDING;
    int attempts;
    /** Lease end for LEASED, delay end for DELAYED (epoch ms); only changed while out of the timer set. */
    long deadline;
    /** Whether an entry for this delivery sits in the inbox's ready heap (possibly stale). */
    boolean inReady;
    /** Whether an entry for this delivery sits in the inbox's expiring heap (possibly stale). */
    boolean inExpiring;
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
