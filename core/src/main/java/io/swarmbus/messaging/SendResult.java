package io.swarmbus.messaging;

import java.util.List;

/**
 * The answer to a send, given once the message is durable.
 *
 * @param id the message id (the first one's, for a duplicate)
 * @param recipients how many inboxes got a delivery
 * @param duplicate whether this was a repeat of an earlier send with the same idempotency key
 * @param passedOver the full inboxes a group, topic or broadcast send did not reach, sorted; for a
 *     duplicate, those the first send did not reach, which the journal keeps with its key
 */
public record SendResult(MessageId id, int recipients, boolean duplicate, List<AgentId> passedOver) {
    public SendResult {
        passedOver = List.copyOf(passedOver);
    }

    /** A send that passed over no inbox. */
    public SendResult(MessageId id, int recipients, boolean duplicate) {
        this(id, recipients, duplicate, List.of());
    }
}
