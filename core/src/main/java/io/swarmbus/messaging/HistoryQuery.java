package io.swarmbus.messaging;

import io.swarmbus.SwarmbusException;
import java.time.Instant;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.function.BiPredicate;

/**
 * A filter over retained messages; every part is optional and parts combine with AND. Results come
 * newest first.
 *
 * @param agent messages this agent sent or was a recipient of
 * @param peer with {@code agent}: only those exchanged with this agent; alone: sent or received by it
 * @param involving only messages sent or received by one of these agents: a caller's own, so that
 *     the search skips stretches of history that hold none of them without reading them
 * @param type only this type
 * @param conversationId only this conversation
 * @param since accepted at or after
 * @param until accepted before
 * @param before only messages with a lower id (older, ids being time-ordered): the last id of one
 *     page gives the next, which {@code until} cannot when several messages share a millisecond
 * @param limit at most this many, 1 to 10,000
 * @param shownIf only messages it accepts, given the message and its recipients: what a caller may
 *     see, applied before the limit so that a page holds {@code limit} of those when there are
 */
public record HistoryQuery(
        Optional<AgentId> agent,
        Optional<AgentId> peer,
        Optional<Set<AgentId>> involving,
        Optional<MessageType> type,
        Optional<String> conversationId,
        Optional<Instant> since,
        Optional<Instant> until,
        Optional<MessageId> before,
        int limit,
        BiPredicate<Message, Iterable<AgentId>> shownIf) {
    /** The largest page a query may ask for. */
    public static final int MAX_LIMIT = 10_000;

    /** Validates the limit. */
    public HistoryQuery {
        Objects.requireNonNull(shownIf, "shownIf");
        involving = involving.map(Set::copyOf);
        if (limit < 1 || limit > MAX_LIMIT) {
            throw SwarmbusException.invalid("limit", "limit must be 1 to " + MAX_LIMIT + ", was " + limit);
        }
    }

    /** A query matching everything, 100 at most; narrow it with the {@code with*} methods. */
    public static HistoryQuery all() {
        return new HistoryQuery(Optional.empty(), Optional.empty(), Optional.empty(), Optional.empty(),
                Optional.empty(), Optional.empty(), Optional.empty(), Optional.empty(),
                100, (message, recipients) -> true);
    }

    /** Only messages sent or received by {@code value}. */
    public HistoryQuery withAgent(AgentId value) {
        return new HistoryQuery(Optional.of(value), peer, involving, type, conversationId, since, until,
                before, limit, shownIf);
    }

    /** Only messages exchanged with {@code value}. */
    public HistoryQuery withPeer(AgentId value) {
        return new HistoryQuery(agent, Optional.of(value), involving, type, conversationId, since, until,
                before, limit, shownIf);
    }

    /** Only messages sent or received by one of {@code value}; none if it is empty. */
    public HistoryQuery involving(Set<AgentId> value) {
        return new HistoryQuery(agent, peer, Optional.of(value), type, conversationId, since, until, before,
                limit, shownIf);
    }

    /** Only messages of this type. */
    public HistoryQuery withType(MessageType value) {
        return new HistoryQuery(agent, peer, involving, Optional.of(value), conversationId, since, until,
                before, limit, shownIf);
    }

    /** Only messages of this conversation. */
    public HistoryQuery withConversation(String value) {
        return new HistoryQuery(agent, peer, involving, type, Optional.of(value), since, until, before, limit, shownIf);
    }

    /** Only messages accepted in {@code [from, to)}. */
    public HistoryQuery between(Instant from, Instant to) {
        return new HistoryQuery(agent, peer, involving, type, conversationId, Optional.of(from),
                Optional.of(to), before, limit, shownIf);
    }

    /** Only messages older than {@code value}: the page after the one that ended with it. */
    public HistoryQuery before(MessageId value) {
        return new HistoryQuery(agent, peer, involving, type, conversationId, since, until, Optional.of(value), limit,
                shownIf);
    }

    /** At most {@code value} results. */
    public HistoryQuery withLimit(int value) {
        return new HistoryQuery(agent, peer, involving, type, conversationId, since, until, before, value, shownIf);
    }

    /** Only messages {@code value} accepts as well (see {@code shownIf}). */
    public HistoryQuery shownIf(BiPredicate<Message, Iterable<AgentId>> value) {
        return new HistoryQuery(agent, peer, involving, type, conversationId, since, until, before, limit, value);
    }

    boolean matches(Message message, Iterable<AgentId> recipients) {
        return matchesFilters(message, recipients) && shownIf.test(message, recipients);
    }

    private boolean matchesFilters(Message message, Iterable<AgentId> recipients) {
        if (type.isPresent() && !type.get().equals(message.type())) {
            return false;
        }
        if (conversationId.isPresent() && !conversationId.equals(message.conversationId())) {
            return false;
        }
        if (since.isPresent() && message.createdAt().isBefore(since.get())) {
            return false;
        }
        if (until.isPresent() && !message.createdAt().isBefore(until.get())) {
            return false;
        }
        if (before.isPresent() && message.id().compareTo(before.get()) >= 0) {
            return false;
        }
        if (involving.isPresent() && !involves(message, recipients, involving.get())) {
            return false;
        }
        if (agent.isPresent() && peer.isPresent()) {
            return exchanged(message, recipients, agent.get(), peer.get())
                    || exchanged(message, recipients, peer.get(), agent.get());
        }
        Optional<AgentId> party = agent.or(() -> peer);
        return party.isEmpty() || message.from().equals(party.get()) || contains(recipients, party.get());
    }

    private static boolean involves(Message message, Iterable<AgentId> recipients, Set<AgentId> agents) {
        if (agents.contains(message.from())) {
            return true;
        }
        for (AgentId recipient : recipients) {
            if (agents.contains(recipient)) {
                return true;
            }
        }
        return false;
    }

    private static boolean exchanged(Message message, Iterable<AgentId> recipients, AgentId from, AgentId to) {
        return message.from().equals(from) && contains(recipients, to);
    }

    private static boolean contains(Iterable<AgentId> recipients, AgentId agent) {
        for (AgentId recipient : recipients) {
            if (recipient.equals(agent)) {
                return true;
            }
        }
        return false;
    }
}
