package io.swarmbus.messaging;

import static org.assertj.core.api.Assertions.assertThat;

import io.swarmbus.messaging.Event.IdempotencyKept;
import io.swarmbus.messaging.Event.Sent;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The journal's records, and those journals written before this version hold. */
class EventCodecTest {
    private static final AgentId ALICE = AgentId.of("alice");
    private static final AgentId BOB = AgentId.of("bob");
    private static final AgentId CAROL = AgentId.of("carol");
    private static final long ID = 1_800_000_000_000L << MessageId.COUNTER_BITS;
    private static final long AT = 1_800_000_000_000L;

    private final EventCodec codec = new EventCodec();

    private static Message message(Address to, Optional<String> key) {
        return new Message(new MessageId(ID), ALICE, to, MessageType.CHAT, "\"hi\"", Priority.MEDIUM,
                Optional.empty(), Optional.empty(), Optional.empty(), Map.of(), Instant.ofEpochMilli(AT),
                Optional.empty(), key);
    }

    private Event roundTrip(Event event) {
        ByteBuffer encoded = codec.encode(event);
        byte[] copy = new byte[encoded.remaining()];
        encoded.get(copy);
        return new EventCodec().decode(ByteBuffer.wrap(copy));
    }

    @Test
    void aKeyedSend_keepsItsKeysScopeAndTheInboxesItPassedOver() {
        Message message = message(Address.broadcast(), Optional.of("k"));
        Sent sent = new Sent(message, List.of(BOB), 0, KeyScope.SENDER, List.of(CAROL));
        Message copy = message(Address.agent(BOB), Optional.of("k"));
        Sent perRecipient = new Sent(copy, List.of(BOB), 0, KeyScope.RECIPIENT, List.of());

        assertThat((Sent) roundTrip(sent)).satisfies(read -> {
            assertThat(read.message()).isEqualTo(message);
            assertThat(read.recipients()).containsExactly(BOB);
            assertThat(read.keyScope()).isEqualTo(KeyScope.SENDER);
            assertThat(read.passedOver()).containsExactly(CAROL);
        });
        assertThat(((Sent) roundTrip(perRecipient)).keyScope()).isEqualTo(KeyScope.RECIPIENT);
    }

    @Test
    void aSendWithoutAKey_isWrittenAsBefore() {
        Sent sent = new Sent(message(Address.agent(BOB), Optional.empty()), List.of(BOB), 0, KeyScope.SENDER,
                List.of());

        assertThat(codec.encode(sent).get(0)).as("the SENT tag").isEqualTo((byte) 9);
        assertThat(((Sent) roundTrip(sent)).passedOver()).isEmpty();
    }

    @Test
    void idempotencyEntries_keepTheirScopeAndTheInboxesPassedOver() {
        IdempotencyKept own = new IdempotencyKept(IdempotencyKey.own(ALICE, "k"),
                new IdempotencyEntry(ID, AT, 2, List.of(CAROL), false));
        IdempotencyKept copy = new IdempotencyKept(new IdempotencyKey(ALICE, "k", BOB),
                new IdempotencyEntry(ID + 1, AT, 1, List.of(), false));

        assertThat(roundTrip(own)).isEqualTo(own);
        assertThat(roundTrip(copy)).isEqualTo(copy);
    }

    /** A keyed send as journals before key scopes hold it: the SENT tag, no scope, nothing passed over. */
    @Test
    void aKeyedSendJournaledBefore_readsAsUnscoped_andIsWrittenAsItWas() {
        ByteBuffer old = ByteBuffer.allocate(256);
        old.put((byte) 9).putLong(ID);
        string(old, "alice");
        old.put((byte) 1); // a direct address
        string(old, "bob");
        string(old, "chat");
        string(old, "\"hi\"");
        old.put((byte) 1).put((byte) 0).put((byte) 0).put((byte) 0).putInt(0).putLong(AT).putLong(-1);
        old.put((byte) 1);
        string(old, "k/bob");
        old.putInt(1);
        string(old, "bob");
        old.flip();
        byte[] bytes = new byte[old.remaining()];
        old.duplicate().get(bytes);

        Sent read = (Sent) codec.decode(old);

        assertThat(read.message()).isEqualTo(message(Address.agent(BOB), Optional.of("k/bob")));
        assertThat(read.recipients()).containsExactly(BOB);
        assertThat(read.keyScope()).isEqualTo(KeyScope.UNSCOPED);
        assertThat(read.passedOver()).isEmpty();
        ByteBuffer again = codec.encode(read);
        byte[] written = new byte[again.remaining()];
        again.get(written);
        assertThat(written).isEqualTo(bytes);
    }

    /** An idempotency entry as snapshots before key scopes hold it. */
    @Test
    void anIdempotencyEntrySnapshottedBefore_readsAsUnscoped_andIsWrittenAsItWas() {
        ByteBuffer old = ByteBuffer.allocate(256);
        old.put((byte) 16);
        string(old, "alice");
        string(old, "k/bob");
        old.putLong(ID).putLong(AT).putInt(1);
        old.flip();
        byte[] bytes = new byte[old.remaining()];
        old.duplicate().get(bytes);

        Event read = codec.decode(old);

        assertThat(read).isEqualTo(new IdempotencyKept(IdempotencyKey.own(ALICE, "k/bob"),
                new IdempotencyEntry(ID, AT, 1, List.of(), true)));
        ByteBuffer again = codec.encode(read);
        byte[] written = new byte[again.remaining()];
        again.get(written);
        assertThat(written).isEqualTo(bytes);
    }

    private static void string(ByteBuffer out, String value) {
        byte[] utf8 = value.getBytes(StandardCharsets.UTF_8);
        out.putInt(utf8.length).put(utf8);
    }
}
