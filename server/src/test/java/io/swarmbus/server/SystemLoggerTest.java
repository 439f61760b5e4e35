package io.swarmbus.server;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** What core and llm log through {@link System.Logger} reaches the server's log, in its format. */
class SystemLoggerTest {
    @Test
    void systemLoggerRecords_goToTheServersLog() {
        String name = "io.swarmbus.messaging.Engine"; // as core names its logger
        Logger logback = (Logger) LoggerFactory.getLogger(name);
        ListAppender<ILoggingEvent> seen = new ListAppender<>();
        seen.start();
        logback.addAppender(seen);
        try {
            System.Logger logger = System.getLogger(name);
            IllegalStateException cause = new IllegalStateException("disk full");
            logger.log(System.Logger.Level.WARNING, "snapshot failed; retrying in 10 s", cause);
            logger.log(System.Logger.Level.ERROR, "journal {0} failed: {1}", "segment-7", "No space left on device");
            logger.log(System.Logger.Level.DEBUG, "not logged at INFO");

            assertThat(seen.list).hasSize(2);
            assertThat(seen.list.get(0).getLevel()).isEqualTo(Level.WARN);
            assertThat(seen.list.get(0).getFormattedMessage()).isEqualTo("snapshot failed; retrying in 10 s");
            assertThat(seen.list.get(0).getThrowableProxy().getMessage()).isEqualTo("disk full");
            assertThat(seen.list.get(1).getLevel()).isEqualTo(Level.ERROR);
            assertThat(seen.list.get(1).getFormattedMessage())
                    .isEqualTo("journal segment-7 failed: No space left on device");
            assertThat(logger.isLoggable(System.Logger.Level.DEBUG)).isFalse();
        } finally {
            logback.detachAppender(seen);
        }
    }
}
