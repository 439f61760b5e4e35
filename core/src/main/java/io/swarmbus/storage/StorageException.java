package io.swarmbus.storage;

import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;

/** Storage could not read or persist data. Retriable: the disk may come back. */
public final class StorageException extends SwarmbusException {
    private static final long serialVersionUID = 1L;

    /** Creates an exception with its cause. */
    public StorageException(String message, Throwable cause) {
        super(ErrorCode.STORAGE_FAILURE, message, cause);
    }

    /** Creates an exception without a cause. */
    public StorageException(String message) {
        super(ErrorCode.STORAGE_FAILURE, message);
    }
}
