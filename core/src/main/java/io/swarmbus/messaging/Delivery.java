package io.swarmbus.messaging;

import java.time.Instant;

/**
 * A message handed to a receiver under a lease: ack it before {@code leaseExpiresAt} or it is
 * delivered again.
 *
 * @param message the message
 * @param recipient the inbox it was received from
 * @param attempt 1 for the first delivery, counting up with each redelivery
 * @param leaseExpiresAt when the lease ends
 */
public record Delivery(Message message, AgentId recipient, int attempt, Instant leaseExpiresAt) {
    /** Shorthand for {@code message().id()}. */
    public MessageId id() {
        return message.id();
    }
}
