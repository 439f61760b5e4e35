package io.swarmbus.messaging;

import java.util.List;

/**
 * The engine's journal records: every change to durable state is one of these, applied the same way
 * live and on replay. Snapshots are written as events too ({@link Restored}, {@link IdempotencyKept}
 * and the membership events), so one codec serves both.
 */
sealed interface Event {
    /** An inbox was created. */
    record InboxCreated(AgentId agent) implements Event {}

    /** An inbox was deleted; its deliveries are discarded. */
    record InboxDeleted(AgentId agent) implements Event {}

    /** A group was created with its first members. */
    record GroupCreated(String name, List<AgentId> members) implements Event {}

    /** A group was deleted. */
    record GroupDeleted(String name) implements Event {}

    /** An agent joined a group. */
    record GroupJoined(String name, AgentId agent) implements Event {}

    /** An agent left a group. */
    record GroupLeft(String name, AgentId agent) implements Event {}

    /** An agent subscribed to a topic. */
    record Subscribed(String topic, AgentId agent) implements Event {}

    /** An agent unsubscribed from a topic. */
    record Unsubscribed(String topic, AgentId agent) implements Event {}

    /**
     * A message was accepted, fanned out to these recipients. {@code messageBytes} is the size of
     * its encoded message, as {@code max_message_bytes} measures it; not written itself, as the
     * decoder measures it again. For a message with an idempotency key, {@code keyScope} says
     * among which sends the key is unique and {@code passedOver} lists the full inboxes the send
     * did not reach, so that a repeat answers as the send did; written only for such a message.
     */
    record Sent(Message message, List<AgentId> recipients, int messageBytes, KeyScope keyScope,
            List<AgentId> passedOver) implements Event {}

    /** Deliveries were leased to a receiver until {@code deadline} (epoch ms). */
    record Leased(AgentId agent, long[] ids, long deadline) implements Event {}

    /** Leases still held were extended to a new deadline; attempts do not change. */
    record LeaseExtended(AgentId agent, long[] ids, long deadline) implements Event {}

    /**
     * Leased deliveries were handed back unseen (their receiver went away before they could be
     * written to it): ready again at once, the attempt not counted.
     */
    record Released(AgentId agent, long[] ids) implements Event {}

    /** Deliveries were acknowledged. */
    record Acked(AgentId agent, long[] ids) implements Event {}

    /** A delivery was given back; deliverable again from {@code notBefore} (epoch ms, 0 = now). */
    record Nacked(AgentId agent, long id, long notBefore) implements Event {}

    /** A lease ended without an ack. */
    record LeaseExpired(AgentId agent, long id) implements Event {}

    /** A nack's delay ended; the delivery is ready again. */
    record DelayEnded(AgentId agent, long id) implements Event {}

    /** Deliveries were found past their time to live and dropped. */
    record Expired(AgentId agent, long[] ids) implements Event {}

    /** A dead letter was put back in its inbox. */
    record Replayed(AgentId agent, long id) implements Event {}

    /**
     * Snapshot form of a retained message and the state of each delivery; {@code messageBytes} as
     * in {@link Sent}.
     */
    record Restored(Message message, List<AgentId> recipients, byte[] statuses, int[] attempts, long[] deadlines,
            int messageBytes) implements Event {}

    /** Snapshot form of an idempotency entry still inside the dedupe window. */
    record IdempotencyKept(IdempotencyKey key, IdempotencyEntry entry) implements Event {}
}
