package io.swarmbus.messaging;

/**
 * An idempotency key as the engine remembers it.
 *
 * @param sender who sent under it
 * @param key the key as the sender gave it
 * @param recipient for a key of {@link KeyScope#RECIPIENT}, the recipient whose copy it dedupes;
 *     null for the sender's own keys
 */
record IdempotencyKey(AgentId sender, String key, AgentId recipient) {
    /** One of the sender's own keys. */
    static IdempotencyKey own(AgentId sender, String key) {
        return new IdempotencyKey(sender, key, null);
    }
}
