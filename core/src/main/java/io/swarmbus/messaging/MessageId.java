package io.swarmbus.messaging;

import io.swarmbus.SwarmbusException;
import java.time.Instant;

/**
 * A server-assigned message id, ordered by the time the server accepted the message: the upper 44
 * bits are epoch milliseconds and the lower 20 a counter within the millisecond. Its text form is
 * 16 lower-case hex digits, so text order is time order too.
 *
 * @param value the id as a number
 */
public record MessageId(long value) implements Comparable<MessageId> {
    static final int COUNTER_BITS = 20;

    /** Parses the 16-hex-digit text form. */
    public static MessageId parse(String text) {
        if (text == null || text.length() != 16) {
            throw SwarmbusException.invalid("message_id", "message id '" + text + "' is not 16 hex digits");
        }
        try {
            return new MessageId(Long.parseUnsignedLong(text, 16));
        } catch (NumberFormatException e) {
            throw SwarmbusException.invalid("message_id", "message id '" + text + "' is not 16 hex digits");
        }
    }

    /** The time the server accepted the message, to the millisecond. */
    public Instant timestamp() {
        return Instant.ofEpochMilli(value >>> COUNTER_BITS);
    }

    /**
     * Mixes the bits: ids made in one burst differ only in their low counter bits and a few
     * millisecond bits, which {@link Long#hashCode} would pile into the same hash-table buckets.
     */
    @Override
    public int hashCode() {
        long mixed = value * 0x9E3779B97F4A7C15L;
        return (int) (mixed ^ (mixed >>> 32));
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof MessageId id && id.value == value;
    }

    @Override
    public int compareTo(MessageId other) {
        return Long.compareUnsigned(value, other.value);
    }

    @Override
    public String toString() {
        String hex = Long.toHexString(value);
        return "0".repeat(16 - hex.length()) + hex;
    }
}
