package io.swarmbus.storage;

/** Hears from the journal's writer thread when appended records become durable, or cannot. */
public interface DurabilityListener {
    /** Every record up to and including {@code seq} is durable under the configured policy. */
    void durable(long seq);

    /** The journal cannot write any more; every record after the last durable one is lost. */
    void failed(Throwable cause);
}
