package io.swarmbus.messaging;

import io.swarmbus.messaging.Event.Acked;
import io.swarmbus.messaging.Event.DelayEnded;
import io.swarmbus.messaging.Event.Expired;
import io.swarmbus.messaging.Event.GroupCreated;
import io.swarmbus.messaging.Event.GroupDeleted;
import io.swarmbus.messaging.Event.GroupJoined;
import io.swarmbus.messaging.Event.GroupLeft;
import io.swarmbus.messaging.Event.IdempotencyKept;
import io.swarmbus.messaging.Event.InboxCreated;
import io.swarmbus.messaging.Event.InboxDeleted;
import io.swarmbus.messaging.Event.LeaseExpired;
import io.swarmbus.messaging.Event.LeaseExtended;
import io.swarmbus.messaging.Event.Released;
import io.swarmbus.messaging.Event.Leased;
import io.swarmbus.messaging.Event.Nacked;
import io.swarmbus.messaging.Event.Replayed;
import io.swarmbus.messaging.Event.Restored;
import io.swarmbus.messaging.Event.Sent;
import io.swarmbus.messaging.Event.Subscribed;
import io.swarmbus.messaging.Event.Unsubscribed;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Binary form of {@link Event}s: a tag byte, then fields in declaration order. Strings are
 * length-prefixed UTF-8, optional values carry a presence byte. Not thread-safe: each thread that
 * encodes or decodes keeps its own codec.
 */
final class EventCodec {
    private static final byte INBOX_CREATED = 1;
    private static final byte INBOX_DELETED = 2;
    private static final byte GROUP_CREATED = 3;
    private static final byte GROUP_DELETED = 4;
    private static final byte GROUP_JOINED = 5;
    private static final byte GROUP_LEFT = 6;
    private static final byte SUBSCRIBED = 7;
    private static final byte UNSUBSCRIBED = 8;
    private static final byte SENT = 9;
    private static final byte LEASED = 10;
    private static final byte ACKED = 11;
    private static final byte NACKED = 12;
    private static final byte LEASE_EXPIRED = 13;
    private static final byte REPLAYED = 14;
    private static final byte RESTORED = 15;
    private static final byte IDEMPOTENCY_KEPT = 16;
    private static final byte DELAY_ENDED = 17;
    private static final byte EXPIRED = 18;
    private static final byte LEASE_EXTENDED = 19;
    private static final byte RELEASED = 20;
    /**
     * A {@link Sent} whose message has an idempotency key, followed by what its repeats answer: the
     * key's scope and the inboxes passed over. Before it such a send was a plain {@link #SENT},
     * which still reads, as {@link KeyScope#UNSCOPED}.
     */
    private static final byte SENT_KEYED = 21;
    /** An {@link IdempotencyKept} with its scope and the inboxes passed over; {@link #IDEMPOTENCY_KEPT} before. */
    private static final byte IDEMPOTENCY_KEPT_SCOPED = 22;

    private static final byte SCOPE_SENDER = 0;
    private static final byte SCOPE_RECIPIENT = 1;

    private static final byte DIRECT = 1;
    private static final byte GROUP = 2;
    private static final byte TOPIC = 3;
    private static final byte BROADCAST = 4;

    /** Grows to the largest event encoded; small at first, as many codecs only decode. */
    private ByteBuffer out = ByteBuffer.allocate(1024);
    private int lastMessageBytes;
    /** Decoding sees the same few agent names over and over: skip re-validating them. */
    private final Map<String, AgentId> agents = new HashMap<>();
    private final Map<String, MessageType> types = new HashMap<>();
    private final Map<AgentId, Address.Direct> directs = new HashMap<>();

    // ---------------------------------------------------------------- encoding

    /** Encodes {@code event}; the returned buffer is valid until the next call. */
    ByteBuffer encode(Event event) {
        out.clear();
        switch (event) {
            case InboxCreated e -> tag(INBOX_CREATED).agent(e.agent());
            case InboxDeleted e -> tag(INBOX_DELETED).agent(e.agent());
            case GroupCreated e -> tag(GROUP_CREATED).string(e.name()).agents(e.members());
            case GroupDeleted e -> tag(GROUP_DELETED).string(e.name());
            case GroupJoined e -> tag(GROUP_JOINED).string(e.name()).agent(e.agent());
            case GroupLeft e -> tag(GROUP_LEFT).string(e.name()).agent(e.agent());
            case Subscribed e -> tag(SUBSCRIBED).string(e.topic()).agent(e.agent());
            case Unsubscribed e -> tag(UNSUBSCRIBED).string(e.topic()).agent(e.agent());
            case Sent e -> sent(e.message(), e.recipients(), null, e.keyScope(), e.passedOver());
            case Leased e -> tag(LEASED).agent(e.agent()).longs(e.ids()).putLong(e.deadline());
            case Acked e -> tag(ACKED).agent(e.agent()).longs(e.ids());
            case LeaseExtended e -> tag(LEASE_EXTENDED).agent(e.agent()).longs(e.ids()).putLong(e.deadline());
            case Released e -> tag(RELEASED).agent(e.agent()).longs(e.ids());
            case Nacked e -> tag(NACKED).agent(e.agent()).putLong(e.id()).putLong(e.notBefore());
            case LeaseExpired e -> tag(LEASE_EXPIRED).agent(e.agent()).putLong(e.id());
            case Replayed e -> tag(REPLAYED).agent(e.agent()).putLong(e.id());
            case DelayEnded e -> tag(DELAY_ENDED).agent(e.agent()).putLong(e.id());
            case Expired e -> tag(EXPIRED).agent(e.agent()).longs(e.ids());
            case Restored e -> restored(e);
            case IdempotencyKept e -> idempotencyKept(e.key(), e.entry());
        }
        return out.flip();
    }

    /**
     * Encodes a {@link Sent} of {@code message} to {@code recipients}, whose content the caller
     * already turned into UTF-8 (outside any lock).
     */
    ByteBuffer encodeSent(Message message, List<AgentId> recipients, byte[] contentUtf8, KeyScope keyScope,
            List<AgentId> passedOver) {
        out.clear();
        sent(message, recipients, contentUtf8, keyScope, passedOver);
        return out.flip();
    }

    /** A send without a key, or read back as {@link KeyScope#UNSCOPED}, is written as it always was. */
    private void sent(Message message, List<AgentId> recipients, byte[] contentUtf8, KeyScope keyScope,
            List<AgentId> passedOver) {
        boolean keyed = message.idempotencyKey().isPresent() && keyScope != KeyScope.UNSCOPED;
        tag(keyed ? SENT_KEYED : SENT).message(message, contentUtf8);
        lastMessageBytes = out.position() - 1;
        agents(recipients);
        if (keyed) {
            scope(keyScope).agents(passedOver);
        }
    }

    /** An entry read back as {@link KeyScope#UNSCOPED} is written as it always was, and reads back the same. */
    private void idempotencyKept(IdempotencyKey key, IdempotencyEntry entry) {
        if (entry.unscoped()) {
            tag(IDEMPOTENCY_KEPT).agent(key.sender()).string(key.key()).putLong(entry.id())
                    .putLong(entry.acceptedAt()).putInt(entry.recipients());
            return;
        }
        tag(IDEMPOTENCY_KEPT_SCOPED).agent(key.sender()).string(key.key())
                .scope(key.recipient() == null ? KeyScope.SENDER : KeyScope.RECIPIENT);
        if (key.recipient() != null) {
            agent(key.recipient());
        }
        putLong(entry.id()).putLong(entry.acceptedAt()).putInt(entry.recipients()).agents(entry.passedOver());
    }

    private EventCodec scope(KeyScope scope) {
        byte code = switch (scope) {
            case SENDER -> SCOPE_SENDER;
            case RECIPIENT -> SCOPE_RECIPIENT;
            case UNSCOPED -> throw new IllegalArgumentException("an unscoped key is written in the old form");
        };
        ensure(1).out.put(code);
        return this;
    }

    /**
     * The stored size of the message in the last {@link Sent} encoded, recipients excluded: what
     * {@code max_message_bytes} limits, and what a decoded {@link Sent} or {@link Restored} carries
     * as its {@code messageBytes}.
     */
    int lastMessageBytes() {
        return lastMessageBytes;
    }

    private void restored(Restored e) {
        tag(RESTORED).message(e.message()).agents(e.recipients());
        ensure(e.statuses().length * 13);
        for (int i = 0; i < e.statuses().length; i++) {
            out.put(e.statuses()[i]).putInt(e.attempts()[i]).putLong(e.deadlines()[i]);
        }
    }

    private EventCodec message(Message m) {
        return message(m, null);
    }

    private EventCodec message(Message m, byte[] contentUtf8) {
        putLong(m.id().value()).agent(m.from()).address(m.to()).string(m.type().name());
        if (contentUtf8 == null) {
            string(m.content());
        } else {
            bytes(contentUtf8);
        }
        ensure(1).out.put((byte) m.priority().level());
        optional(m.correlationId()).optional(m.replyTo()).optional(m.conversationId());
        putInt(m.headers().size());
        m.headers().forEach((k, v) -> string(k).string(v));
        putLong(m.createdAt().toEpochMilli());
        putLong(m.expiresAt().map(Instant::toEpochMilli).orElse(-1L));
        return optional(m.idempotencyKey());
    }

    private EventCodec address(Address address) {
        return switch (address) {
            case Address.Direct d -> tag(DIRECT).agent(d.agent());
            case Address.Group g -> tag(GROUP).string(g.name());
            case Address.Topic t -> tag(TOPIC).string(t.name());
            case Address.Broadcast b -> tag(BROADCAST);
        };
    }

    private EventCodec tag(byte tag) {
        ensure(1).out.put(tag);
        return this;
    }

    private EventCodec agent(AgentId agent) {
        return string(agent.value());
    }

    private EventCodec agents(List<AgentId> list) {
        putInt(list.size());
        for (AgentId agent : list) {
            agent(agent);
        }
        return this;
    }

    private EventCodec longs(long[] values) {
        putInt(values.length);
        ensure(values.length * 8);
        for (long value : values) {
            out.putLong(value);
        }
        return this;
    }

    private EventCodec optional(Optional<String> value) {
        ensure(1).out.put((byte) (value.isPresent() ? 1 : 0));
        return value.isPresent() ? string(value.get()) : this;
    }

    private EventCodec bytes(byte[] value) {
        ensure(4 + value.length).out.putInt(value.length).put(value);
        return this;
    }

    private EventCodec string(String value) {
        int length = value.length();
        if (length > 64) {
            return bytes(value.getBytes(StandardCharsets.UTF_8)); // the JDK's encoder is vectorized
        }
        // Short strings (names, ids): skip the temporary array; ASCII chars are their UTF-8 bytes.
        ensure(4 + length * 3);
        int lengthAt = out.position();
        out.putInt(0);
        int start = out.position();
        int i = 0;
        for (; i < length; i++) {
            char c = value.charAt(i);
            if (c >= 0x80) {
                break;
            }
            out.put((byte) c);
        }
        if (i < length) {
            out.put(value.substring(i).getBytes(StandardCharsets.UTF_8));
        }
        out.putInt(lengthAt, out.position() - start);
        return this;
    }

    private EventCodec putLong(long value) {
        ensure(8).out.putLong(value);
        return this;
    }

    private EventCodec putInt(int value) {
        ensure(4).out.putInt(value);
        return this;
    }

    private EventCodec ensure(int bytes) {
        if (out.remaining() < bytes) {
            int capacity = out.capacity();
            while (capacity - out.position() < bytes) {
                capacity *= 2;
            }
            ByteBuffer bigger = ByteBuffer.allocate(capacity);
            bigger.put(out.flip());
            out = bigger;
        }
        return this;
    }

    // ---------------------------------------------------------------- decoding

    /** Decodes one event from {@code in}'s remaining bytes. */
    Event decode(ByteBuffer in) {
        byte tag = in.get();
        return switch (tag) {
            case INBOX_CREATED -> new InboxCreated(agent(in));
            case INBOX_DELETED -> new InboxDeleted(agent(in));
            case GROUP_CREATED -> new GroupCreated(string(in), agents(in));
            case GROUP_DELETED -> new GroupDeleted(string(in));
            case GROUP_JOINED -> new GroupJoined(string(in), agent(in));
            case GROUP_LEFT -> new GroupLeft(string(in), agent(in));
            case SUBSCRIBED -> new Subscribed(string(in), agent(in));
            case UNSUBSCRIBED -> new Unsubscribed(string(in), agent(in));
            case SENT -> sent(in, false);
            case SENT_KEYED -> sent(in, true);
            case LEASED -> new Leased(agent(in), longs(in), in.getLong());
            case ACKED -> new Acked(agent(in), longs(in));
            case LEASE_EXTENDED -> new LeaseExtended(agent(in), longs(in), in.getLong());
            case RELEASED -> new Released(agent(in), longs(in));
            case NACKED -> new Nacked(agent(in), in.getLong(), in.getLong());
            case LEASE_EXPIRED -> new LeaseExpired(agent(in), in.getLong());
            case REPLAYED -> new Replayed(agent(in), in.getLong());
            case DELAY_ENDED -> new DelayEnded(agent(in), in.getLong());
            case EXPIRED -> new Expired(agent(in), longs(in));
            case RESTORED -> restored(in, true);
            case IDEMPOTENCY_KEPT -> new IdempotencyKept(IdempotencyKey.own(agent(in), string(in)),
                    new IdempotencyEntry(in.getLong(), in.getLong(), in.getInt(), List.of(), true));
            case IDEMPOTENCY_KEPT_SCOPED -> idempotencyKept(in);
            default -> throw new IllegalArgumentException("unknown event tag " + tag);
        };
    }

    /**
     * Decodes a {@link Restored} event; without {@code content} its message's content reads as
     * empty, which saves copying it when only the other fields are looked at.
     */
    Restored decodeRestored(ByteBuffer in, boolean content) {
        byte tag = in.get();
        if (tag != RESTORED) {
            throw new IllegalArgumentException("expected a restored message, found event tag " + tag);
        }
        return restored(in, content);
    }

    private Sent sent(ByteBuffer in, boolean keyed) {
        int start = in.position();
        Message message = message(in, true);
        int messageBytes = in.position() - start;
        List<AgentId> recipients = agents(in);
        if (keyed) {
            return new Sent(message, recipients, messageBytes, scope(in), agents(in));
        }
        KeyScope scope = message.idempotencyKey().isPresent() ? KeyScope.UNSCOPED : KeyScope.SENDER;
        return new Sent(message, recipients, messageBytes, scope, List.of());
    }

    private IdempotencyKept idempotencyKept(ByteBuffer in) {
        AgentId sender = agent(in);
        String key = string(in);
        AgentId recipient = scope(in) == KeyScope.RECIPIENT ? agent(in) : null;
        return new IdempotencyKept(new IdempotencyKey(sender, key, recipient),
                new IdempotencyEntry(in.getLong(), in.getLong(), in.getInt(), agents(in), false));
    }

    private static KeyScope scope(ByteBuffer in) {
        byte code = in.get();
        return switch (code) {
            case SCOPE_SENDER -> KeyScope.SENDER;
            case SCOPE_RECIPIENT -> KeyScope.RECIPIENT;
            default -> throw new IllegalArgumentException("unknown key scope " + code);
        };
    }

    private Restored restored(ByteBuffer in, boolean content) {
        int start = in.position();
        Message message = message(in, content); // skipped content still moves the position past it
        int messageBytes = in.position() - start;
        List<AgentId> recipients = agents(in);
        int n = recipients.size();
        byte[] statuses = new byte[n];
        int[] attempts = new int[n];
        long[] deadlines = new long[n];
        for (int i = 0; i < n; i++) {
            statuses[i] = in.get();
            attempts[i] = in.getInt();
            deadlines[i] = in.getLong();
        }
        return new Restored(message, recipients, statuses, attempts, deadlines, messageBytes);
    }

    private Message message(ByteBuffer in, boolean withContent) {
        MessageId id = new MessageId(in.getLong());
        AgentId from = agent(in);
        Address to = address(in);
        MessageType type = types.computeIfAbsent(string(in), MessageType::new);
        String content;
        if (withContent) {
            content = string(in);
        } else {
            in.position(in.position() + 4 + in.getInt(in.position()));
            content = "";
        }
        Priority priority = Priority.ofLevel(in.get());
        Optional<String> correlationId = optional(in);
        Optional<String> replyTo = optional(in);
        Optional<String> conversationId = optional(in);
        int headerCount = in.getInt();
        Map<String, String> headers = headerCount == 0 ? Map.of() : new LinkedHashMap<>();
        for (int i = 0; i < headerCount; i++) {
            headers.put(string(in), string(in));
        }
        Instant createdAt = Instant.ofEpochMilli(in.getLong());
        long expires = in.getLong();
        Optional<Instant> expiresAt = expires < 0 ? Optional.empty() : Optional.of(Instant.ofEpochMilli(expires));
        return new Message(id, from, to, type, content, priority, correlationId, replyTo, conversationId,
                headers, createdAt, expiresAt, optional(in));
    }

    private Address address(ByteBuffer in) {
        byte kind = in.get();
        return switch (kind) {
            case DIRECT -> directs.computeIfAbsent(agent(in), Address.Direct::new);
            case GROUP -> new Address.Group(string(in));
            case TOPIC -> new Address.Topic(string(in));
            case BROADCAST -> new Address.Broadcast();
            default -> throw new IllegalArgumentException("unknown address kind " + kind);
        };
    }

    private AgentId agent(ByteBuffer in) {
        return agents.computeIfAbsent(string(in), AgentId::new);
    }

    private List<AgentId> agents(ByteBuffer in) {
        int n = in.getInt();
        List<AgentId> list = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            list.add(agent(in));
        }
        return List.copyOf(list);
    }

    private static long[] longs(ByteBuffer in) {
        long[] values = new long[in.getInt()];
        for (int i = 0; i < values.length; i++) {
            values[i] = in.getLong();
        }
        return values;
    }

    private static Optional<String> optional(ByteBuffer in) {
        return in.get() == 1 ? Optional.of(string(in)) : Optional.empty();
    }

    private static String string(ByteBuffer in) {
        int length = in.getInt();
        if (!in.hasArray()) {
            byte[] bytes = new byte[length];
            in.get(bytes);
            return new String(bytes, StandardCharsets.UTF_8);
        }
        String value = new String(in.array(), in.arrayOffset() + in.position(), length, StandardCharsets.UTF_8);
        in.position(in.position() + length);
        return value;
    }
}
