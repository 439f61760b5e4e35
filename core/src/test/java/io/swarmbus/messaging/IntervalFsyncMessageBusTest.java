package io.swarmbus.messaging;

import io.swarmbus.storage.FsyncPolicy;

/** The messaging contract with fsync policy {@code interval}. */
class IntervalFsyncMessageBusTest extends MessageBusContract {
    @Override
    FsyncPolicy policy() {
        return FsyncPolicy.INTERVAL;
    }
}
