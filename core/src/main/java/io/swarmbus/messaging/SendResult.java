package io.swarmbus.messaging;

/**
 * The answer to a send, given once the message is durable.
 *
 * @param id the message id (the first one's, for a duplicate)
 * @param recipients how many inboxes got a delivery
 * @param duplicate whether this was a repeat of an earlier send with the same idempotency key
 */
public record SendResult(MessageId id, int recipients, boolean duplicate) {}
