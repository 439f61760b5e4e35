package io.swarmbus.messaging;

import io.swarmbus.storage.FsyncPolicy;

/** The messaging contract with fsync policy {@code always}. */
class AlwaysFsyncMessageBusTest extends MessageBusContract {
    @Override
    FsyncPolicy policy() {
        return FsyncPolicy.ALWAYS;
    }
}
