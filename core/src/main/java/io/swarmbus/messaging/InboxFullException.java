package io.swarmbus.messaging;

import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;

/**
 * An {@link ErrorCode#INBOX_FULL} refusal that says which inbox was full, so that an adapter can
 * leave out an agent its caller may not learn of (another user's, reached by a broadcast) and keep
 * the rest of the answer.
 */
public final class InboxFullException extends SwarmbusException {
    private static final long serialVersionUID = 1L;

    /** Not serializable itself; the id is in the message too. */
    private final transient AgentId agent;
    private final int limit;

    /** A refusal because {@code agent}'s inbox holds {@code depth} messages, at its {@code limit}. */
    public InboxFullException(AgentId agent, int depth, int limit) {
        super(ErrorCode.INBOX_FULL, "inbox '" + agent + "' is full (depth=" + depth + ", limit max_inbox_depth="
                + limit + ")");
        this.agent = agent;
        this.limit = limit;
    }

    /** The agent whose inbox is full. */
    public AgentId agent() {
        return agent;
    }

    /** The most messages an inbox holds ({@code max_inbox_depth}). */
    public int limit() {
        return limit;
    }
}
