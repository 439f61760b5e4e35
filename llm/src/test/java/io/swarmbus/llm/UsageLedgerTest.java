package io.swarmbus.llm;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class UsageLedgerTest {
    @Test
    void anAgentsUsage_isKeptPerRegistration_besideItsTotals_andOutlivesARestart() {
        UsageLedger ledger = new UsageLedger();
        ledger.record("x", "alice since 1", null, "alice", "b", "m", 10, 5, 0.5);
        ledger.record("x", "alice since 1", null, "alice", "b", "m", 10, 5, 0.5);
        assertThat(ledger.ofRegistration("x", "alice since 1").orElseThrow().requests()).isEqualTo(2);

        ledger.record("x", "bob since 2", "t", "bob", "b", "m", 1, 1, 0.1); // deleted and registered by bob
        assertThat(ledger.ofRegistration("x", "alice since 1")).as("that registration is over").isEmpty();
        UsageLedger.Usage bobs = ledger.ofRegistration("x", "bob since 2").orElseThrow();
        assertThat(bobs.requests()).isEqualTo(1);
        assertThat(bobs.promptTokens()).isEqualTo(1);
        assertThat(ledger.of("agent").get("x").requests()).as("the id's totals").isEqualTo(3);
        assertThat(ledger.of("key").get("alice").requests()).isEqualTo(2);

        UsageLedger restarted = new UsageLedger();
        restarted.restore(ledger.toJson());
        assertThat(restarted.ofRegistration("x", "bob since 2").orElseThrow().completionTokens()).isEqualTo(1);
        assertThat(restarted.of("agent").get("x").promptTokens()).isEqualTo(21);
        assertThat(restarted.of("task").get("t").requests()).isEqualTo(1);
        assertThat(restarted.of("registrations")).as("not a kind").isEmpty();
    }
}
