package io.swarmbus.messaging;

import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;
import io.swarmbus.storage.FileJournal;
import io.swarmbus.storage.RecoveryReport;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * The messaging engine: durable inboxes with direct, group, topic and broadcast addressing,
 * priorities, leases, acks, redelivery, dead letters, TTLs, idempotent sends, long-poll receive and
 * history. Thread-safe.
 *
 * <p>Every method that changes state answers only once the change is durable under the configured
 * fsync policy; messages become visible to receivers at the same moment. Errors are
 * {@link SwarmbusException}s whose {@link ErrorCode} says what went wrong.
 */
public interface MessageBus extends AutoCloseable {

    /** Opens the bus on the embedded journal in {@code config.dataDirectory()}, recovering what is there. */
    static MessageBus open(BusConfig config) {
        return Engine.open(config, listener -> FileJournal.open(config.journal(), listener));
    }

    /** What recovery found when the bus opened. */
    RecoveryReport recovery();

    // ---------------------------------------------------------------- inboxes, groups, topics

    /** Creates an inbox for {@code agent}; false if it already had one. */
    boolean createInbox(AgentId agent);

    /**
     * Makes {@code agent} a service address: broadcasts pass it by, as it answers requests sent to
     * it and has no use for what is said to everyone. Not stored: whoever runs the service says so
     * each time the bus opens.
     */
    void excludeFromBroadcast(AgentId agent);

    /**
     * Deletes the inbox, its dead letters, its group memberships and subscriptions, and the
     * idempotency keys its agent sent under: an id created again starts afresh.
     */
    void deleteInbox(AgentId agent);

    /** Whether {@code agent} has an inbox. */
    boolean hasInbox(AgentId agent);

    /** Every agent with an inbox. */
    Set<AgentId> inboxes();

    /**
     * Counts for one inbox. Pending messages past their TTL are expired first (at the cost of how
     * many expired, not of the inbox's size), so they count as none of these.
     */
    InboxStats inboxStats(AgentId agent);

    /**
     * Throws {@link InboxFullException} if a direct send to {@code agent} would be refused for want
     * of room, as {@link #send} would, messages past their TTL not counted.
     */
    void requireRoom(AgentId agent);

    /** Creates a group; every member must have an inbox. */
    void createGroup(String name, Collection<AgentId> members);

    /** Deletes a group. */
    void deleteGroup(String name);

    /** Adds a member to a group; false if it was one already. */
    boolean joinGroup(String name, AgentId agent);

    /** Removes a member from a group; false if it was not one. */
    boolean leaveGroup(String name, AgentId agent);

    /** A group's members, or empty if there is no such group. */
    Optional<Set<AgentId>> groupMembers(String name);

    /** Every group's name. */
    Set<String> groups();

    /** Subscribes an agent to a topic; false if it already was. */
    boolean subscribe(AgentId agent, String topic);

    /** Unsubscribes an agent from a topic; false if it was not subscribed. */
    boolean unsubscribe(AgentId agent, String topic);

    /** A topic's subscribers (empty for a topic nobody subscribed to). */
    Set<AgentId> subscribers(String topic);

    // ---------------------------------------------------------------- messages

    /**
     * Accepts a message and fans it out to its recipients' inboxes. The future completes once the
     * message is durable, or exceptionally with a {@link SwarmbusException}. Validation errors are
     * thrown at once.
     */
    CompletableFuture<SendResult> sendAsync(SendRequest request);

    /**
     * Tells {@code observer} of every send once it is durable, duplicates included, whoever made
     * it: an embedding server audits the messages it sends itself (task requests, LLM answers) with
     * its clients'. It runs on the thread that completes the send, before anything the caller
     * chained on the send's future, so it must be quick. One observer at a time; a second replaces
     * the first.
     */
    void observeSends(java.util.function.BiConsumer<SendRequest, SendResult> observer);

    /**
     * Tells {@code observer} of every delivery moved to its agent's dead-letter queue because its
     * last lease ran out (a nack that does it says so in its own answer, {@link #nackAsync}). It
     * runs just after the move, outside the engine's lock, on the thread that made it, so it must
     * be quick. Not told of moves replayed at open. One observer at a time.
     */
    void observeDeadLetters(java.util.function.BiConsumer<AgentId, MessageId> observer);

    /** Sends and waits until the message is durable. */
    default SendResult send(SendRequest request) {
        return await(sendAsync(request));
    }

    /**
     * Leases up to {@code max} messages from the inbox, highest priority first and in acceptance
     * order within a priority, waiting up to {@code wait} for the first to arrive. The future
     * completes as soon as a message is available, or empty when the wait ends. Fewer than
     * {@code max} come when their sizes would pass {@code max_receive_bytes}, though never none
     * when one is ready; the next in line stays for the next receive, its attempts unchanged.
     */
    CompletableFuture<List<Delivery>> receiveAsync(AgentId agent, int max, Duration visibility, Duration wait);

    /** Fails as {@link #receiveAsync} would for these arguments, without receiving anything. */
    void checkReceive(int max, Duration visibility);

    /** Leases what is available now, without waiting, with the default visibility timeout. */
    default List<Delivery> receive(AgentId agent, int max) {
        return await(receiveAsync(agent, max, defaultVisibility(), Duration.ZERO));
    }

    /** Long-polls: blocks until a message arrives or {@code wait} ends. */
    default List<Delivery> receive(AgentId agent, int max, Duration visibility, Duration wait) {
        return await(receiveAsync(agent, max, visibility, wait));
    }

    /** The lease length used when a receiver names none. */
    Duration defaultVisibility();

    /** The longest lease a receiver may ask for, and the longest a nack may delay redelivery. */
    Duration maxVisibility();

    /** The largest message accepted, in bytes: content, headers and envelope ({@code max_message_bytes}). */
    int maxMessageBytes();

    /** The most undelivered or unacked messages one inbox holds ({@code max_inbox_depth}). */
    int maxInboxDepth();

    /** Acknowledges leased deliveries; the future completes once the acks are durable. */
    CompletableFuture<AckResult> ackAsync(AgentId agent, Collection<MessageId> ids);

    /**
     * Extends leases still held to {@code visibility} from now, for a receiver that needs longer
     * than it asked for; attempts do not change. {@link AckResult#acked()} lists those extended,
     * {@link AckResult#notHeld()} the rest. The future completes once the extension is durable.
     */
    CompletableFuture<AckResult> extendLeaseAsync(AgentId agent, Collection<MessageId> ids, Duration visibility);

    /**
     * Renews leases still held for a receiver that names no length: each then ends
     * {@link #defaultVisibility()} from now, or keeps its end if that is later, so a renewal never
     * shortens a lease. Otherwise as {@link #extendLeaseAsync}: {@link AckResult#acked()} lists
     * every lease held, moved or not.
     */
    CompletableFuture<AckResult> renewLeaseAsync(AgentId agent, Collection<MessageId> ids);

    /**
     * Hands back leased deliveries that never reached their receiver: its connection closed before
     * they could be written. They are ready again at once and the attempt does not count toward
     * {@code max_deliveries}, since nobody saw them. Only the very leases these deliveries were
     * handed out with are ended: one that has since expired and been leased to another receiver
     * stays with it. {@link AckResult#acked()} lists those released, {@link AckResult#notHeld()}
     * the rest. The future completes once the release is durable. Never throws: on a closed bus or
     * a deleted inbox there is nothing to give back, and every one is answered not held.
     */
    CompletableFuture<AckResult> releaseAsync(AgentId agent, Collection<Delivery> deliveries);

    /** Acknowledges one delivery; {@link ErrorCode#LEASE_NOT_HELD} if the caller holds no lease on it. */
    default void ack(AgentId agent, MessageId id) {
        AckResult result = await(ackAsync(agent, List.of(id)));
        if (!result.notHeld().isEmpty()) {
            throw new SwarmbusException(ErrorCode.LEASE_NOT_HELD, "agent '" + agent + "' holds no lease on message "
                    + id + " (never received, lease expired, or already acked)");
        }
    }

    /**
     * Gives a leased delivery back: deliverable again after {@code delay} (zero for now), or moved
     * to the dead-letter queue if it has used up its deliveries. The future completes, once the
     * nack is durable, with where the delivery went: {@link DeliveryStatus#PENDING},
     * {@link DeliveryStatus#DELAYED} or {@link DeliveryStatus#DEAD_LETTERED}.
     */
    CompletableFuture<DeliveryStatus> nackAsync(AgentId agent, MessageId id, Duration delay);

    /** Synchronous {@link #nackAsync}. */
    default DeliveryStatus nack(AgentId agent, MessageId id, Duration delay) {
        return await(nackAsync(agent, id, delay));
    }

    /** A retained message with each delivery's state. */
    Optional<MessageRecord> message(MessageId id);

    /** Retained messages matching the query, newest first. */
    List<MessageRecord> history(HistoryQuery query);

    /** The agent's whole dead-letter queue, oldest message first. */
    default List<MessageRecord> deadLetters(AgentId agent) {
        return deadLetters(agent, Optional.empty(), Integer.MAX_VALUE);
    }

    /**
     * A page of the agent's dead-letter queue, oldest message first (by message id): at most
     * {@code limit}, of those after {@code after} if given, which is the last id of the page before.
     */
    List<MessageRecord> deadLetters(AgentId agent, Optional<MessageId> after, int limit);

    /**
     * Puts a dead letter back in its inbox with a fresh delivery count; {@link ErrorCode#INVALID_STATE}
     * if its time to live has ended, as it would expire there undelivered.
     */
    CompletableFuture<Void> replayAsync(AgentId agent, MessageId id);

    /** Synchronous {@link #replayAsync}. */
    default void replay(AgentId agent, MessageId id) {
        await(replayAsync(agent, id));
    }

    /** Counters and gauges. */
    BusStats stats();

    /**
     * Why the bus takes no work now: its journal failed (say, the disk is full or gone), or it is
     * closed. Empty while it takes work.
     */
    Optional<String> unavailable();

    /** Takes a snapshot now and drops the journal segments it makes unnecessary. */
    void snapshot();

    /** Stops accepting work, waits for what is in flight to become durable, and closes. */
    @Override
    void close();

    /** Waits for a future, rethrowing a {@link SwarmbusException} as itself. */
    static <T> T await(CompletableFuture<T> future) {
        try {
            return future.join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof SwarmbusException cause) {
                throw cause;
            }
            throw e;
        }
    }
}
