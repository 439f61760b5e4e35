package io.swarmbus.messaging;

import java.util.List;

/**
 * The outcome of a batch ack.
 *
 * @param acked ids whose lease the caller held, now done
 * @param notHeld ids the caller held no lease on (never received, lease expired, or already acked)
 */
public record AckResult(List<MessageId> acked, List<MessageId> notHeld) {
    /** Freezes the lists. */
    public AckResult {
        acked = List.copyOf(acked);
        notHeld = List.copyOf(notHeld);
    }
}
