package io.swarmbus.messaging;

import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.concurrent.atomic.AtomicLong;

/** A clock tests move by hand. */
public final class FakeClock implements InstantSource {
    private final AtomicLong millis;

    public FakeClock(long startMillis) {
        this.millis = new AtomicLong(startMillis);
    }

    public FakeClock() {
        this(1_800_000_000_000L);
    }

    public void advance(Duration duration) {
        millis.addAndGet(duration.toMillis());
    }

    @Override
    public Instant instant() {
        return Instant.ofEpochMilli(millis.get());
    }

    @Override
    public long millis() {
        return millis.get();
    }
}
