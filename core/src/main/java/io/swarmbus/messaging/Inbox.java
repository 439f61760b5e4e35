package io.swarmbus.messaging;

import java.util.ArrayDeque;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.PriorityQueue;
import java.util.Set;

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
    /** Dead letters by message id, in the order they died. */
    final LinkedHashMap<Long, DeliveryState> dead = new LinkedHashMap<>();
    /** Long-poll receivers, first come first served. */
    final ArrayDeque<Waiter> waiters = new ArrayDeque<>();
    /**
     * Its leased and delayed deliveries, which are also in the engine's deadline-ordered set: so
     * deleting the inbox finds its own without walking everyone's. Created on first use, since most
     * inboxes of a large registry never lease anything.
     */
    private Set<DeliveryState> timed;
    int pending;
    int leased;
    int delayed;

    Inbox(AgentId agent) {
        this.agent = agent;
        this.address = Address.agent(agent);
    }

    void addTimed(DeliveryState d) {
        if (timed == null) {
            timed = new HashSet<>();
        }
        timed.add(d);
    }

    void removeTimed(DeliveryState d) {
        if (timed != null) {
            timed.remove(d);
        }
    }

    Set<DeliveryState> timed() {
        return timed == null ? Set.of() : timed;
    }

    /** Messages counting against the depth limit. */
    int depth() {
        return pending + leased + delayed;
    }

    InboxStats stats() {
        return new InboxStats(agent, pending, leased, delayed, dead.size(), waiters.size());
    }
}
