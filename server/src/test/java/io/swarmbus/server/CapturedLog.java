package io.swarmbus.server;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.util.List;
import org.slf4j.LoggerFactory;

/** What one logger writes while open, at {@code level} or above; closing restores the logger. */
final class CapturedLog implements AutoCloseable {
    private final Logger logger;
    private final Level levelBefore;
    private final ListAppender<ILoggingEvent> seen = new ListAppender<>();

    CapturedLog(String name, Level level) {
        logger = (Logger) LoggerFactory.getLogger(name);
        levelBefore = logger.getLevel();
        seen.start();
        logger.addAppender(seen);
        logger.setLevel(level);
    }

    /** The access log at DEBUG, as {@code SWARMBUS_ACCESS_LOG=debug} sets it. */
    static CapturedLog accessLog() {
        return new CapturedLog("io.swarmbus.access", Level.DEBUG);
    }

    List<ILoggingEvent> events() {
        return seen.list;
    }

    List<String> messages() {
        return seen.list.stream().map(ILoggingEvent::getFormattedMessage).toList();
    }

    @Override
    public void close() {
        logger.detachAppender(seen);
        logger.setLevel(levelBefore);
    }
}
