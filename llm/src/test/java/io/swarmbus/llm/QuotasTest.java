package io.swarmbus.llm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import io.swarmbus.llm.route.WindowCounter;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.Test;

class QuotasTest {
    static final long SECOND = 1_000_000_000L;
    final MutableClock clock = new MutableClock(Instant.parse("2026-11-22T23:59:00Z"));

    static Quotas.Settings settings(String json) throws Exception {
        return Quotas.Settings.parse(OpenAiWire.JSON.readTree(json));
    }

    static LlmGateway.Refused refusal(ThrowingCallable call) {
        return catchThrowableOfType(LlmGateway.Refused.class, call);
    }

    static void admit(Quotas quotas, String agent, String key, long nanos) throws LlmGateway.Refused {
        quotas.admit(agent, "registration of " + agent, key, nanos);
    }

    @Test
    void requestsPerMinute_areCountedPerAgent_andRefusedWithTheWaitUntilASlotFrees() throws Exception {
        Quotas quotas = new Quotas(settings("{\"agent\":{\"rpm\":2}}"), clock);
        admit(quotas, "a", "alice", 10 * SECOND);
        admit(quotas, "a", "alice", 30 * SECOND);
        admit(quotas, "b", "alice", 30 * SECOND); // another agent of the same key has its own minute
        LlmGateway.Refused refused = refusal(() -> admit(quotas, "a", "alice", 40 * SECOND));
        assertThat(refused.status()).isEqualTo(429);
        assertThat(refused.code()).isEqualTo("rate_limit_exceeded");
        assertThat(refused.getMessage()).contains("agent 'a'").contains("2 requests per minute");
        assertThat(refused.retryAfterSeconds()).isEqualTo(30); // the request at 10 s leaves the window at 70 s
        admit(quotas, "a", "alice", 70 * SECOND);
    }

    @Test
    void tokensPerMinute_countWhatAnswersUsed_perKey() throws Exception {
        Quotas quotas = new Quotas(settings("{\"key\":{\"tpm\":100}}"), clock);
        admit(quotas, "a", "alice", SECOND);
        quotas.used("a", "registration of a", "alice", 60, 40, 0, SECOND);
        LlmGateway.Refused refused = refusal(() -> admit(quotas, "b", "alice", 2 * SECOND));
        assertThat(refused.getMessage()).contains("key 'alice'").contains("100 tokens per minute");
        admit(quotas, "a", "bob", 2 * SECOND);
    }

    @Test
    void dailyBudgets_refuseUntilMidnightUtc_andNamedQuotasOverrideTheDefault() throws Exception {
        Quotas quotas = new Quotas(settings("{\"agent\":{\"daily_tokens\":50},\"agents\":{\"big\":{\"daily_cost\":1.5}}}"),
                clock);
        admit(quotas, "small", "k", SECOND);
        quotas.used("small", "registration of small", "k", 30, 20, 0.01, SECOND);
        LlmGateway.Refused refused = refusal(() -> admit(quotas, "small", "k", 2 * SECOND));
        assertThat(refused.status()).isEqualTo(429);
        assertThat(refused.type()).isEqualTo("insufficient_quota");
        assertThat(refused.retryAfterSeconds()).isEqualTo(60);

        admit(quotas, "big", "k", SECOND);
        quotas.used("big", "registration of big", "k", 1_000, 1_000, 2.0, SECOND);
        assertThat(refusal(() -> admit(quotas, "big", "k", 2 * SECOND)).getMessage()).contains("1.5");

        clock.advance(Duration.ofMinutes(2)); // a new UTC day
        admit(quotas, "small", "k", 200 * SECOND);
        admit(quotas, "big", "k", 200 * SECOND);
    }

    @Test
    void todaysUse_survivesASaveAndRestore_butNotANewDay() throws Exception {
        Quotas.Settings limits = settings("{\"agent\":{\"daily_tokens\":50}}");
        Quotas first = new Quotas(limits, clock);
        admit(first, "a", "k", SECOND);
        first.used("a", "registration of a", "k", 40, 20, 0, SECOND);

        Quotas restarted = new Quotas(limits, clock);
        restarted.restore(first.toJson());
        assertThat(restarted.today("agent", "a", "registration of a")).containsEntry("tokens_today", 60L);
        assertThat(refusal(() -> admit(restarted, "a", "k", 2 * SECOND))).isNotNull();

        clock.advance(Duration.ofMinutes(5));
        Quotas nextDay = new Quotas(limits, clock);
        nextDay.restore(first.toJson());
        admit(nextDay, "a", "k", 2 * SECOND);
    }

    @Test
    void anAgentRegisteredAgain_startsWithNothingUsed_whileItsKeyKeepsItsCount() throws Exception {
        Quotas quotas = new Quotas(settings("{\"agent\":{\"rpm\":1,\"daily_tokens\":50},\"key\":{\"rpm\":2}}"),
                clock);
        quotas.admit("x", "alice since 1", "alice", SECOND);
        quotas.used("x", "alice since 1", "alice", 40, 20, 0, SECOND);
        assertThat(refusal(() -> quotas.admit("x", "alice since 1", "alice", 2 * SECOND))).isNotNull();
        assertThat(quotas.today("agent", "x", "bob since 2")).containsEntry("tokens_today", 0L);

        quotas.admit("x", "bob since 2", "bob", 3 * SECOND); // the id deleted and registered by bob
        assertThat(quotas.today("agent", "x", "bob since 2")).containsEntry("tokens_today", 0L);
        assertThat(quotas.today("agent", "x", "alice since 1")).as("that registration is over")
                .containsEntry("tokens_today", 0L);
        quotas.admit("y", "alice since 4", "alice", 4 * SECOND);
        assertThat(refusal(() -> quotas.admit("z", "alice since 5", "alice", 5 * SECOND)).getMessage())
                .contains("key 'alice'");
    }

    @Test
    void aMeterSavedWithoutARegistration_goesOnForTheAgentsRegistration() throws Exception {
        Quotas quotas = new Quotas(settings("{\"agent\":{\"daily_tokens\":50}}"), clock);
        quotas.restore(OpenAiWire.JSON.readTree("{\"day\":" + java.time.LocalDate.of(2026, 11, 22).toEpochDay()
                + ",\"used\":{\"agent:a\":{\"tokens\":60,\"cost\":0}}}"));
        assertThat(refusal(() -> admit(quotas, "a", "k", SECOND))).isNotNull();
    }

    @Test
    void badSettings_nameTheField() {
        assertThatThrownBy(() -> settings("{\"agent\":{\"rpn\":3}}")).hasMessageContaining("rpn");
        assertThatThrownBy(() -> settings("{\"agent\":{\"rpm\":-1}}")).hasMessageContaining("0 (no limit)");
        assertThatThrownBy(() -> settings("{\"agent\":{\"rpm\":\"many\"}}")).hasMessageContaining("number");
        assertThatThrownBy(() -> settings("{\"users\":{}}")).hasMessageContaining("users");
        assertThat(Quotas.Settings.NONE.perAgent()).isEqualTo(Quota.NONE);
    }

    @Test
    void windowCounter_forgetsAfterAMinute_andSaysWhenItDropsBelowALimit() {
        WindowCounter window = new WindowCounter();
        window.add(0, 5);
        window.add(20 * SECOND, 5);
        assertThat(window.sum(59 * SECOND)).isEqualTo(10);
        assertThat(window.secondsUntilBelow(59 * SECOND, 10)).isEqualTo(1);
        assertThat(window.secondsUntilBelow(59 * SECOND, 5)).isEqualTo(21);
        assertThat(window.sum(60 * SECOND)).isEqualTo(5);
        assertThat(window.sum(80 * SECOND)).isZero();
    }

    static final class MutableClock extends Clock {
        private Instant now;

        MutableClock(Instant start) {
            now = start;
        }

        void advance(Duration by) {
            now = now.plus(by);
        }

        @Override
        public Instant instant() {
            return now;
        }

        @Override
        public java.time.ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(java.time.ZoneId zone) {
            return this;
        }
    }
}
