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

    /**
     * Why an I/O call failed, in words ("Read-only file system", "permission denied"), without the
     * path a {@link java.nio.file.FileSystemException}'s own message starts with.
     */
    public static String reason(java.io.IOException e) {
        if (e instanceof java.nio.file.FileSystemException failure) {
            return failure.getReason() != null ? failure.getReason()
                    : failure instanceof java.nio.file.AccessDeniedException ? "permission denied"
                    : failure instanceof java.nio.file.NoSuchFileException ? "no such file or directory" : "I/O error";
        }
        return e.getMessage() != null ? e.getMessage() : "I/O error";
    }

    /** Creates an exception without a cause. */
    public StorageException(String message) {
        super(ErrorCode.STORAGE_FAILURE, message);
    }
}
