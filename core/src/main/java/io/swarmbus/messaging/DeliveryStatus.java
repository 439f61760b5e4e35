package io.swarmbus.messaging;

import java.util.Locale;

/** Where one recipient's copy of a message stands. */
public enum DeliveryStatus {
    /** Waiting in the inbox to be received. */
    PENDING,
    /** Handed to a receiver under a lease that has not ended. */
    LEASED,
    /** Nacked with a delay; back in the inbox when it ends. */
    DELAYED,
    /** Acknowledged: done. */
    ACKED,
    /** Moved to the dead-letter queue after too many deliveries; can be replayed. */
    DEAD_LETTERED,
    /** Its time to live ended before it was acked. */
    EXPIRED,
    /** Its inbox was deleted before it was acked. */
    DISCARDED;

    /** Computed once: history and message views name a status for every recipient. */
    private final String wireName = name().toLowerCase(Locale.ROOT);

    /** Whether nothing more will happen to this delivery. */
    public boolean terminal() {
        return this == ACKED || this == EXPIRED || this == DISCARDED;
    }

    /** The lower-case name used on the wire. */
    public String wireName() {
        return wireName;
    }
}
