package io.swarmbus.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.swarmbus.SwarmbusException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokensTest {
    /** A clock the test moves by hand. */
    static final class HandClock extends Clock {
        Instant now = Instant.parse("2026-01-01T00:00:00Z");

        @Override
        public ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now;
        }
    }

    /** Regression: a missing key file was reported as "cannot read /x/jwt.pem: /x/jwt.pem". */
    @Test
    void rs256_withAMissingKeyFile_failsSayingItDoesNotExist(@TempDir Path dir) {
        Path missing = dir.resolve("jwt.pem");
        assertThatThrownBy(() -> Tokens.rs256(missing, Duration.ofMinutes(5), Clock.systemUTC()))
                .hasMessage("auth.jwt_private_key_file: cannot read " + missing + ": no such file or directory");
    }

    @Test
    void aVerifiedToken_isRefusedOnceItExpires_evenFromTheCache() {
        HandClock clock = new HandClock();
        Tokens tokens = Tokens.hs256("0123456789abcdef0123456789abcdef-tokens", ServerSettings.JWT_SECRET_NAMES,
                Duration.ofMinutes(10), clock);
        String token = tokens.issue("alice", false);

        assertThat(tokens.verify(token)).isEqualTo("alice");
        assertThat(tokens.verify(token)).isEqualTo("alice"); // second time from the cache
        clock.now = clock.now.plus(Duration.ofMinutes(10));
        assertThatThrownBy(() -> tokens.verify(token)).isInstanceOf(SwarmbusException.class)
                .hasMessageContaining("expired");
    }

    @Test
    void aTokenWithOneCharacterChanged_isNotTakenFromTheCache() {
        Tokens tokens = Tokens.hs256("0123456789abcdef0123456789abcdef-tokens", ServerSettings.JWT_SECRET_NAMES,
                Duration.ofMinutes(10), Clock.systemUTC());
        String token = tokens.issue("alice", false);
        tokens.verify(token);
        char last = token.charAt(token.length() - 2);
        String changed = token.substring(0, token.length() - 2) + (last == 'A' ? 'B' : 'A') + token.charAt(token.length() - 1);

        assertThatThrownBy(() -> tokens.verify(changed)).isInstanceOf(SwarmbusException.class);
    }
}
