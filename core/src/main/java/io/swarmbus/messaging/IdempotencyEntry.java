package io.swarmbus.messaging;

import java.util.List;

/**
 * What a send under an idempotency key answered, for its repeats inside the dedupe window.
 *
 * @param id the message's id
 * @param acceptedAt when it was accepted (clock millis)
 * @param recipients how many inboxes got a delivery
 * @param passedOver the full inboxes it passed over, sorted
 * @param unscoped whether it was journaled before keys had scopes ({@link KeyScope#UNSCOPED})
 */
record IdempotencyEntry(long id, long acceptedAt, int recipients, List<AgentId> passedOver, boolean unscoped) {
    IdempotencyEntry {
        passedOver = List.copyOf(passedOver);
    }
}
