package io.swarmbus.messaging;

import java.time.Instant;
import java.util.Map;
import java.util.Optional;

/**
 * A message as the bus accepted it. Immutable; each recipient's progress is tracked separately
 * (see {@link DeliveryInfo}).
 *
 * @param id server-assigned, time-ordered id
 * @param from the sending agent
 * @param to where it was addressed
 * @param type what it is for
 * @param content the body, JSON text; the bus stores it verbatim
 * @param priority delivery order across priorities
 * @param correlationId links a reply to its request
 * @param replyTo where replies should go
 * @param conversationId groups the messages of one conversation
 * @param headers free string headers, e.g. a W3C {@code traceparent}
 * @param createdAt when the bus accepted it
 * @param expiresAt after this instant it is no longer delivered
 * @param idempotencyKey the sender's key for de-duplicating retries
 */
public record Message(
        MessageId id,
        AgentId from,
        Address to,
        MessageType type,
        String content,
        Priority priority,
        Optional<String> correlationId,
        Optional<String> replyTo,
        Optional<String> conversationId,
        Map<String, String> headers,
        Instant createdAt,
        Optional<Instant> expiresAt,
        Optional<String> idempotencyKey) {

    /** Freezes the headers. */
    public Message {
        headers = headers.isEmpty() ? Map.of() : Map.copyOf(headers);
    }

    /** Whether the message has expired at {@code now}. */
    public boolean expiredAt(Instant now) {
        return expiresAt.isPresent() && !now.isBefore(expiresAt.get());
    }
}
