package io.swarmbus.messaging;

/** Among which sends an idempotency key must be unique, as a send's journal record says. */
enum KeyScope {
    /** The sender's own keys: a repeat from the same sender is a duplicate, wherever it goes. */
    SENDER,
    /**
     * The key shared by the copies a sender makes of one message, one direct send to each recipient
     * ({@link SendRequest#keyedPerRecipient}): one key per recipient, apart from the sender's own
     * keys, so that no direct send's key can stand for a copy's.
     */
    RECIPIENT,
    /**
     * Journaled before keys had scopes, when such copies were keyed {@code key/recipient} among
     * the sender's own keys: read as {@link #SENDER}, and also found by a copy's repeat under that
     * form, so that a copy sent before an upgrade is not sent again by its retry after it.
     */
    UNSCOPED
}
