package io.swarmbus.storage;

/** When the journal forces written bytes to the disk. */
public enum FsyncPolicy {
    /**
     * Every append is fsynced before it counts as durable; appends that arrive while one fsync runs
     * share the next one (group commit). Survives power loss.
     */
    ALWAYS,
    /**
     * Appends count as durable once written to the operating system, and the journal fsyncs on a
     * fixed interval. Survives a process crash; a power loss may drop the last interval.
     */
    INTERVAL
}
