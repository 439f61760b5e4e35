package io.swarmbus.messaging;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.PriorityQueue;
import java.util.TreeMap;

/** One agent's inbox. Guarded by the engine lock. */
final class Inbox {
    final AgentId agent;
    /**
     * This inbox as a message's address. Messages to it share it and {@link #agent} instead of
     * holding copies parsed from each request: a pending message is a few objects fewer for the
     * collector to copy and trace, and a million pending ones are tens of megabytes smaller.
     */
    final Address address;
    /** Deliveries ready to lease; may hold stale entries whose status moved on (skipped when polled). */
    final PriorityQueue<DeliveryState> ready = new PriorityQueue<>(DeliveryState.READY_ORDER);
    /** Dead letters in message id order, so that a listing pages on from where its last page ended. */
    final TreeMap<Long, DeliveryState> dead = new TreeMap<>();
    /**
     * The pending deliveries whose message has a TTL, the first to expire first: so that those past
     * it are found, expired and left out of {@link #pending} at the cost of how many expired, not
     * of a walk of the inbox. Entries whose status moved on stay until they reach the top or,
     * once they outnumber the live ones, are dropped all at once; otherwise every message leased
     * and acked would be held here until its TTL ended.
     */
    final PriorityQueue<DeliveryState> expiring = new PriorityQueue<>(DeliveryState.EXPIRY_ORDER);
    /** The live entries of {@link #expiring}: pending deliveries with a TTL. */
    private int expiringPending;
    /** Long-poll receivers, first come first served. */
    final ArrayDeque<Waiter> waiters = new ArrayDeque<>();
    /**
     * The first of its leased and delayed deliveries, which are also in the engine's deadline-ordered
     * set: so deleting the inbox finds its own without walking everyone's. Linked through the
     * deliveries themselves: every lease passes through here under the engine lock, and a link
     * costs neither an allocation nor a hash.
     */
    private DeliveryState firstTimed;
    int pending;
    int leased;
    int delayed;

    Inbox(AgentId agent) {
        this.agent = agent;
        this.address = Address.agent(agent);
    }

    /** Counts {@code d}, just made pending, as pending. */
    void addPending(DeliveryState d) {
        pending++;
        if (d.stored.expiresAt != Long.MAX_VALUE) {
            expiringPending++;
            if (!d.inExpiring) {
                d.inExpiring = true;
                expiring.add(d);
            }
        }
    }

    /** Stops counting {@code d}, whose status just moved on from pending. */
    void removePending(DeliveryState d) {
        pending--;
        if (d.stored.expiresAt != Long.MAX_VALUE) {
            expiringPending--;
            // Stale entries dropped once they pass the live ones (and a few): each drop then pays
            // for itself, the heap is at most about twice its live size, and few finished
            // messages are kept from the collector.
            if (expiring.size() > 2 * expiringPending + 64) {
                expiring.removeIf(e -> {
                    if (e.status == DeliveryStatus.PENDING) {
                        return false;
                    }
                    e.inExpiring = false;
                    return true;
                });
            }
        }
    }

    void addTimed(DeliveryState d) {
        d.nextTimed = firstTimed;
        if (firstTimed != null) {
            firstTimed.previousTimed = d;
        }
        firstTimed = d;
    }

    /** Unlinks {@code d}, which must have been added and not removed since. */
    void removeTimed(DeliveryState d) {
        if (d.previousTimed == null) {
            firstTimed = d.nextTimed;
        } else {
            d.previousTimed.nextTimed = d.nextTimed;
        }
        if (d.nextTimed != null) {
            d.nextTimed.previousTimed = d.previousTimed;
        }
        d.previousTimed = null;
        d.nextTimed = null;
    }

    List<DeliveryState> timed() {
        List<DeliveryState> timed = new ArrayList<>();
        for (DeliveryState d = firstTimed; d != null; d = d.nextTimed) {
            timed.add(d);
        }
        return timed;
    }

    /** Messages counting against the depth limit. */
    int depth() {
        return pending + leased + delayed;
    }

    InboxStats stats() {
        return new InboxStats(agent, pending, leased, delayed, dead.size(), waiters.size());
    }
}
