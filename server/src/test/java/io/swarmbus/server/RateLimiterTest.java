package io.swarmbus.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class RateLimiterTest {
    static final long SECOND = 1_000_000_000L;

    final AtomicLong now = new AtomicLong(1_000 * SECOND);

    /** Regression: a bucket was kept for every key ever seen, so a server seeing many addresses grew without bound. */
    @Test
    void bucketsIdleForAMinute_areDropped_andTheOthersKeepTheirCount() {
        RateLimiter limiter = new RateLimiter(60, now::get);
        for (int i = 0; i < 1_000; i++) {
            limiter.acquire("address 10.0.0." + i + " user" + i);
        }
        now.addAndGet(30 * SECOND);
        for (int i = 0; i < 60; i++) {
            limiter.acquire("spent");
        }
        assertThat(limiter.check("spent")).as("spent: a second to wait").isEqualTo(1);
        assertThat(limiter.size()).isEqualTo(1_001);

        now.addAndGet(31 * SECOND); // the thousand idle for 61 s, "spent" for 31 s and not yet full
        limiter.check("newcomer");

        assertThat(limiter.size()).as("the thousand are gone").isEqualTo(2);
        for (int i = 0; i < 31; i++) {
            assertThat(limiter.acquire("spent")).as("refilled by 31 in 31 s").isZero();
        }
        assertThat(limiter.acquire("spent")).as("and by no more: its count was kept").isEqualTo(1);
    }
}
