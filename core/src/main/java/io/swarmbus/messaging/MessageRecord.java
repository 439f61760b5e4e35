package io.swarmbus.messaging;

import java.util.List;

/**
 * A message with the state of each of its deliveries, as history shows it.
 *
 * @param message the message
 * @param deliveries one per recipient
 */
public record MessageRecord(Message message, List<DeliveryInfo> deliveries) {
    /** Freezes the list. */
    public MessageRecord {
        deliveries = List.copyOf(deliveries);
    }
}
