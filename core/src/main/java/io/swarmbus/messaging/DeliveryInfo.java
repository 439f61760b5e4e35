package io.swarmbus.messaging;

/**
 * One recipient's progress with a message.
 *
 * @param recipient the inbox
 * @param status where it stands
 * @param attempts how many times it was leased
 */
public record DeliveryInfo(AgentId recipient, DeliveryStatus status, int attempts) {}
