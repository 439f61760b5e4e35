package io.swarmbus.server;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether the data directory is still there and writable, for {@code /readyz}. The journal keeps
 * its files open, so once the directory is deleted sends still succeed, into files no one will
 * find again: nothing else would notice. Looked at no more than once a second, as probes may come
 * often and the answer changes rarely. The reason given names no path, as {@code /readyz} answers
 * anyone; the log does.
 */
final class DataDirectoryCheck {
    private static final Logger LOG = LoggerFactory.getLogger(DataDirectoryCheck.class);
    private static final long INTERVAL_NANOS = 1_000_000_000L;

    private final Path directory;
    private final LongSupplier nanoTime;
    private boolean checked;
    private long checkedAt;
    private Optional<String> problem = Optional.empty();

    DataDirectoryCheck(Path directory, LongSupplier nanoTime) {
        this.directory = directory;
        this.nanoTime = nanoTime;
    }

    /** Why the directory cannot take data, as of the last look; empty while it can. */
    synchronized Optional<String> problem() {
        long now = nanoTime.getAsLong();
        if (!checked || now - checkedAt >= INTERVAL_NANOS) {
            Optional<String> found = look();
            if (found.isPresent() && !found.equals(problem)) {
                LOG.warn("not ready: {} ({})", found.get(), directory.toAbsolutePath());
            }
            problem = found;
            checked = true;
            checkedAt = now;
        }
        return problem;
    }

    private Optional<String> look() {
        if (!Files.isDirectory(directory)) {
            return Optional.of("the data directory is gone (deleted, moved or unmounted)");
        }
        if (!Files.isWritable(directory)) {
            return Optional.of("the data directory is not writable");
        }
        return Optional.empty();
    }
}
