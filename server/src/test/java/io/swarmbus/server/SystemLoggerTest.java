package io.swarmbus.server;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.spi.ILoggingEvent;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What core and llm log through {@link System.Logger} reaches the server's log, in its format. */
class SystemLoggerTest {
    @Test
    void systemLoggerRecords_goToTheServersLog() {
        String name = "io.swarmbus.messaging.Engine"; // as core names its logger
        try (CapturedLog log = new CapturedLog(name, Level.INFO)) {
            System.Logger logger = System.getLogger(name);
            IllegalStateException cause = new IllegalStateException("disk full");
            logger.log(System.Logger.Level.WARNING, "snapshot failed; retrying in 10 s", cause);
            logger.log(System.Logger.Level.ERROR, "journal {0} failed: {1}", "segment-7", "No space left on device");
            logger.log(System.Logger.Level.DEBUG, "not logged at INFO");

            List<ILoggingEvent> seen = log.events();
            assertThat(seen).hasSize(2);
            assertThat(seen.get(0).getLevel()).isEqualTo(Level.WARN);
            assertThat(seen.get(0).getFormattedMessage()).isEqualTo("snapshot failed; retrying in 10 s");
            assertThat(seen.get(0).getThrowableProxy().getMessage()).isEqualTo("disk full");
            assertThat(seen.get(1).getLevel()).isEqualTo(Level.ERROR);
            assertThat(seen.get(1).getFormattedMessage()).isEqualTo("journal segment-7 failed: No space left on device");
            assertThat(logger.isLoggable(System.Logger.Level.DEBUG)).isFalse();
        }
    }
}
