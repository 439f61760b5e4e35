package io.swarmbus.messaging;

import io.swarmbus.SwarmbusException;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * What a sender asks the bus to deliver. Build one with {@link #builder(AgentId, Address)}.
 *
 * @param from the sending agent
 * @param to where it goes
 * @param type what it is for
 * @param content the body as JSON text
 * @param priority delivery order
 * @param correlationId links a reply to its request
 * @param replyTo where replies should go
 * @param conversationId groups a conversation
 * @param headers free string headers
 * @param ttl how long it stays deliverable after acceptance
 * @param idempotencyKey repeats with the same key inside the dedupe window return the first id
 * @param keyedPerRecipient whether {@code idempotencyKey} is shared by the copies of one message that
 *     the sender makes itself, a direct send to each recipient: it then dedupes this recipient's copy
 *     only, and lives apart from the sender's own keys, so that no direct send's key stands for a
 *     copy's (see {@link Builder#idempotencyKeyPerRecipient})
 */
public record SendRequest(
        AgentId from,
        Address to,
        MessageType type,
        String content,
        Priority priority,
        Optional<String> correlationId,
        Optional<String> replyTo,
        Optional<String> conversationId,
        Map<String, String> headers,
        Optional<Duration> ttl,
        Optional<String> idempotencyKey,
        boolean keyedPerRecipient) {
    /** The most characters an id-like field (correlation id, idempotency key...) may have. */
    public static final int MAX_TOKEN_CHARS = 256;
    /** The longest time to live: beyond it an expiry would be no expiry, and far enough out it overflows the clock. */
    public static final Duration MAX_TTL = Duration.ofDays(365);
    /** Headers are for tracing and routing hints, not payload: a cap keeps a garbage header from riding every copy. */
    private static final int MAX_HEADERS = 64;
    private static final int MAX_HEADER_VALUE_CHARS = 4096;

    /** Validates every field. */
    public SendRequest {
        if (from == null) {
            throw SwarmbusException.invalid("from", "a message needs a sender");
        }
        if (to == null) {
            throw SwarmbusException.invalid("to", "a message needs exactly one of to, group, topic or broadcast");
        }
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(priority, "priority");
        if (content == null) {
            throw SwarmbusException.invalid("content", "a message needs content");
        }
        checkToken("correlation_id", correlationId);
        checkToken("reply_to", replyTo);
        checkToken("conversation_id", conversationId);
        checkToken("idempotency_key", idempotencyKey);
        if (keyedPerRecipient && (idempotencyKey.isEmpty() || !(to instanceof Address.Direct))) {
            throw SwarmbusException.invalid("idempotency_key", "a key per recipient needs a key and a direct send");
        }
        headers = headers.isEmpty() ? Map.of() : Map.copyOf(headers);
        checkHeaders(headers);
        if (ttl.isPresent() && (ttl.get().isNegative() || ttl.get().isZero() || ttl.get().compareTo(MAX_TTL) > 0)) {
            throw SwarmbusException.invalid("ttl", "ttl must be positive and at most " + MAX_TTL.toDays()
                    + " days, was " + ttl.get());
        }
    }

    private static void checkHeaders(Map<String, String> headers) {
        // The server adds a request's traceparent header to the message's: it does not count against the client's own.
        int own = headers.size() - (headers.containsKey(Traceparent.HEADER) ? 1 : 0);
        if (own > MAX_HEADERS) {
            throw SwarmbusException.invalid("headers", "a message may carry at most " + MAX_HEADERS
                    + " headers besides traceparent, had " + own);
        }
        headers.forEach((name, value) -> {
            if (name.isEmpty() || name.length() > MAX_TOKEN_CHARS) {
                throw SwarmbusException.invalid("headers", "a header name must be 1 to " + MAX_TOKEN_CHARS + " characters");
            }
            if (value.length() > MAX_HEADER_VALUE_CHARS) {
                throw SwarmbusException.invalid("headers", "header '" + name + "' is longer than " + MAX_HEADER_VALUE_CHARS
                        + " characters");
            }
        });
    }

    private static void checkToken(String field, Optional<String> value) {
        if (value.isPresent() && (value.get().isEmpty() || value.get().length() > MAX_TOKEN_CHARS)) {
            throw SwarmbusException.invalid(field, field + " must be 1 to " + MAX_TOKEN_CHARS
                    + " characters, was " + value.get().length());
        }
    }

    /** Starts a request from {@code from} to {@code to}: a chat message of medium priority. */
    public static Builder builder(AgentId from, Address to) {
        return new Builder(from, to);
    }

    /** Builds a {@link SendRequest}; every setter is optional but {@link #content}. */
    public static final class Builder {
        private final AgentId from;
        private final Address to;
        private MessageType type = MessageType.CHAT;
        private String content;
        private Priority priority = Priority.MEDIUM;
        private String correlationId;
        private String replyTo;
        private String conversationId;
        private final Map<String, String> headers = new LinkedHashMap<>();
        private Duration ttl;
        private String idempotencyKey;
        private boolean keyedPerRecipient;

        private Builder(AgentId from, Address to) {
            this.from = from;
            this.to = to;
        }

        /** Sets the type (default chat). */
        public Builder type(MessageType value) {
            this.type = value;
            return this;
        }

        /** Sets the body, JSON text. */
        public Builder content(String value) {
            this.content = value;
            return this;
        }

        /** Sets the priority (default medium). */
        public Builder priority(Priority value) {
            this.priority = value;
            return this;
        }

        /** Sets the correlation id. */
        public Builder correlationId(String value) {
            this.correlationId = value;
            return this;
        }

        /** Sets where replies go. */
        public Builder replyTo(String value) {
            this.replyTo = value;
            return this;
        }

        /** Sets the conversation id. */
        public Builder conversationId(String value) {
            this.conversationId = value;
            return this;
        }

        /** Adds one header. */
        public Builder header(String name, String value) {
            this.headers.put(Objects.requireNonNull(name, "name"), Objects.requireNonNull(value, "value"));
            return this;
        }

        /** Sets how long the message stays deliverable. */
        public Builder ttl(Duration value) {
            this.ttl = value;
            return this;
        }

        /** Sets the idempotency key. */
        public Builder idempotencyKey(String value) {
            this.idempotencyKey = value;
            this.keyedPerRecipient = false;
            return this;
        }

        /**
         * Sets an idempotency key that several direct sends share, one to each recipient of a
         * message the sender fans out itself: a repeat of the key to the same recipient is a
         * duplicate, one to another recipient is not, and the sender's own keys (set with
         * {@link #idempotencyKey}) never collide with it.
         */
        public Builder idempotencyKeyPerRecipient(String value) {
            this.idempotencyKey = value;
            this.keyedPerRecipient = true;
            return this;
        }

        /** Validates and builds the request. */
        public SendRequest build() {
            return new SendRequest(from, to, type, content, priority, Optional.ofNullable(correlationId),
                    Optional.ofNullable(replyTo), Optional.ofNullable(conversationId), headers,
                    Optional.ofNullable(ttl), Optional.ofNullable(idempotencyKey), keyedPerRecipient);
        }
    }
}
