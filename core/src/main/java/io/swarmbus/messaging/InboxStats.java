package io.swarmbus.messaging;

/**
 * Counts for one inbox at one moment.
 *
 * @param agent the inbox
 * @param pending waiting to be received (including those not yet durable; not those past their TTL)
 * @param leased received and not yet acked
 * @param delayed nacked with a delay that has not ended
 * @param deadLetters in the dead-letter queue
 * @param waitingReceivers long-poll receivers waiting now
 */
public record InboxStats(AgentId agent, int pending, int leased, int delayed, int deadLetters,
        int waitingReceivers) {
    /** Messages that count against the inbox depth limit. */
    public int depth() {
        return pending + leased + delayed;
    }
}
