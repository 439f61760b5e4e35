package io.swarmbus.messaging;

/**
 * Counters since the bus opened (not since the data was created), and gauges now.
 *
 * @param sent messages accepted
 * @param delivered leases handed out, redeliveries included
 * @param acked deliveries acknowledged
 * @param nacked deliveries given back
 * @param leasesExpired leases that ended without an ack
 * @param deadLettered deliveries moved to a dead-letter queue
 * @param expired deliveries dropped because their time to live ended
 * @param duplicates sends answered from the idempotency window
 * @param notReached copies of group, topic and broadcast sends that passed over a full inbox
 * @param inboxes inboxes now
 * @param serviceInboxes of those, the ones {@link MessageBus#excludeFromBroadcast excluded from broadcasts}: an
 *     embedding server's own addresses, not agents
 * @param retainedMessages messages in memory now, live and history
 * @param lastSeq the last journal sequence number
 * @param durableSeq the journal sequence number durable now
 * @param journal the journal's write and fsync counters
 */
public record BusStats(long sent, long delivered, long acked, long nacked, long leasesExpired, long deadLettered,
        long expired, long duplicates, long notReached, int inboxes, int serviceInboxes, int retainedMessages, long lastSeq,
        long durableSeq, io.swarmbus.storage.JournalStats journal) {

    /** Inboxes that are agents': all but the service addresses. */
    public int agentInboxes() {
        return inboxes - serviceInboxes;
    }
}
