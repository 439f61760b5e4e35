package io.swarmbus.storage;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * An exclusive hold on a data directory, so that no two journals write into it at once: two
 * writers would each append their own records under the same sequence numbers, and recovery would
 * keep one's and drop the other's, though both had been reported durable.
 *
 * <p>Across processes the hold is an OS lock on {@value #FILE} in the directory, which the OS
 * releases when the process dies, {@code kill -9} included. Within this JVM it is also a set of
 * held directories, checked before the lock file is opened: on Linux closing any channel to a
 * file releases every lock the process holds on it, so a refused second open must never open
 * (and close) a channel of its own.
 */
final class DirectoryLock implements AutoCloseable {
    static final String FILE = "swarmbus.lock";
    private static final Set<Path> HELD = ConcurrentHashMap.newKeySet();

    private final Path directory;
    private final FileChannel channel;

    private DirectoryLock(Path directory, FileChannel channel) {
        this.directory = directory;
        this.channel = channel;
    }

    /** Takes the directory, which must exist; refuses if another journal, here or elsewhere, holds it. */
    static DirectoryLock take(Path directory) {
        Path key;
        try {
            key = directory.toRealPath();
        } catch (IOException e) {
            throw new StorageException("cannot open data directory " + directory + ": " + StorageException.reason(e),
                    e);
        }
        if (!HELD.add(key)) {
            throw new StorageException("data directory " + directory + " is in use: it is open already in this process");
        }
        FileChannel channel = null;
        try {
            channel = FileChannel.open(key.resolve(FILE), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            if (channel.tryLock() != null) {
                return new DirectoryLock(key, channel);
            }
        } catch (OverlappingFileLockException e) {
            // held through a channel of this JVM that HELD does not know of: refused all the same
        } catch (IOException e) {
            release(key, channel);
            throw new StorageException("cannot lock data directory " + directory + ": " + StorageException.reason(e),
                    e);
        }
        release(key, channel);
        throw new StorageException("data directory " + directory + " is in use by another Swarmbus process");
    }

    private static void release(Path key, FileChannel channel) {
        if (channel != null) {
            try {
                channel.close();
            } catch (IOException ignored) {
                // the refusal or failure being reported matters more
            }
        }
        HELD.remove(key);
    }

    /** Lets the directory go; closing the channel releases the OS lock. */
    @Override
    public void close() {
        release(directory, channel);
    }
}
