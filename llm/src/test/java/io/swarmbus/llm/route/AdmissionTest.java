package io.swarmbus.llm.route;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.swarmbus.llm.BackendSpec;
import java.net.URI;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

class AdmissionTest {
    static Backend backend(int index, int maxConcurrency) {
        return new Backend(new BackendSpec("b" + index, URI.create("http://127.0.0.1:" + (9000 + index)),
                Optional.empty(), List.of("m"), 1, maxConcurrency, 0, 0, 0, 0), index);
    }

    static LlmCall call(String agent, int priority, long waitMillis) {
        return new LlmCall("m", agent, priority, List.of("x"), System.nanoTime() + waitMillis * 1_000_000L);
    }

    @Test
    void aBackendNeverRunsMoreThanItsMaximum_andWaitersGetFreedSlots() throws Exception {
        Backend b = backend(0, 2);
        Admission admission = new Admission(List.of(b), Strategies.named("least_outstanding"), 100);
        admission.acquire(call("a", 1, 1000), Set.of());
        admission.acquire(call("a", 1, 1000), Set.of());
        assertThat(b.inFlight()).isEqualTo(2);
        Thread waiter = Thread.ofVirtual().start(() -> {
            try {
                admission.acquire(call("a", 1, 5000), Set.of());
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        while (admission.queued() == 0) {
            Thread.sleep(1);
        }
        assertThat(b.inFlight()).isEqualTo(2);
        admission.release(b);
        waiter.join(5000);
        assertThat(admission.queued()).isZero();
        assertThat(b.inFlight()).isEqualTo(2);
    }

    @Test
    void waitersAreServedRoundRobinAcrossAgents_soAQuietAgentDoesNotWaitBehindANoisyOne() throws Exception {
        Backend b = backend(0, 1);
        Admission admission = new Admission(List.of(b), Strategies.named("round_robin"), 1000);
        admission.acquire(call("holder", 1, 1000), Set.of());
        List<String> order = Collections.synchronizedList(new ArrayList<>());
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            threads.add(start(admission, b, "noisy", 1, order));
            awaitQueued(admission, i + 1);
        }
        for (int i = 0; i < 2; i++) {
            threads.add(start(admission, b, "quiet", 1, order));
            awaitQueued(admission, 21 + i);
        }
        admission.release(b); // each admitted waiter releases at once, admitting the next
        for (Thread t : threads) {
            t.join(5000);
        }
        assertThat(order).hasSize(22);
        // Round robin: the quiet agent's two calls go 2nd and 4th, not 21st and 22nd.
        assertThat(order.indexOf("quiet")).isLessThanOrEqualTo(1);
        assertThat(order.lastIndexOf("quiet")).isLessThanOrEqualTo(3);
    }

    @Test
    void aCallForAnotherModel_doesNotWaitBehindThisModelsQueue() throws Exception {
        Backend forM = backend(0, 1);
        Backend forN = new Backend(new BackendSpec("n", URI.create("http://127.0.0.1:9100"),
                Optional.empty(), List.of("n"), 1, 1, 0, 0, 0, 0), 1);
        Admission admission = new Admission(List.of(forM, forN), Strategies.named("round_robin"), 100);
        admission.acquire(call("a", 1, 1000), Set.of());
        List<String> order = Collections.synchronizedList(new ArrayList<>());
        Thread queuedForM = start(admission, forM, "a", 1, order);
        awaitQueued(admission, 1);

        Backend got = admission.acquire(new LlmCall("n", "b", 1, List.of("x"), System.nanoTime() + 200_000_000L), Set.of());

        assertThat(got).isSameAs(forN);
        assertThat(admission.queued()).isEqualTo(1);
        admission.release(forM);
        queuedForM.join(5000);
        assertThat(order).containsExactly("a");
    }

    @Test
    void aBackendAtItsRpmOrTpm_takesNoMoreThisMinute_andCallsWaitRatherThanFail() throws Exception {
        Backend limited = new Backend(new BackendSpec("limited", URI.create("http://127.0.0.1:9200"),
                Optional.empty(), List.of("m"), 1, 8, 2, 0, 0, 0), 0);
        Backend tokens = new Backend(new BackendSpec("tokens", URI.create("http://127.0.0.1:9201"),
                Optional.empty(), List.of("m"), 1, 8, 0, 100, 0, 0), 1);
        Admission admission = new Admission(List.of(limited), Strategies.named("round_robin"), 100);
        for (int i = 0; i < 2; i++) {
            admission.release(admission.acquire(call("a", 1, 1000), Set.of()));
        }

        assertThatThrownBy(() -> admission.acquire(call("a", 1, 200), Set.of()))
                .isInstanceOf(Admission.Rejected.class)
                .extracting(e -> ((Admission.Rejected) e).reason()).isEqualTo(Admission.Rejected.Reason.TIMEOUT);
        long now = System.nanoTime();
        assertThat(tokens.available(now)).isTrue();
        tokens.used(now, 60, 40);
        assertThat(tokens.available(now)).as("100 tokens used of a tpm of 100").isFalse();
    }

    @Test
    void aModelWithARouteOfItsOwn_isRoutedByItsStrategy() throws Exception {
        Backend first = backend(0, 8);
        Backend second = backend(1, 8);
        RoutingStrategy alwaysTheLast = (candidates, call, now) -> candidates.getLast();
        Admission admission = new Admission(List.of(first, second), Strategies.named("round_robin"),
                java.util.Map.of("m", alwaysTheLast), 100);

        assertThat(admission.strategyFor("m")).isSameAs(alwaysTheLast);
        assertThat(admission.strategyFor("other")).isNotSameAs(alwaysTheLast);
        for (int i = 0; i < 3; i++) {
            assertThat(admission.acquire(call("a", 1, 1000), Set.of())).as("call " + i).isSameAs(second);
        }
    }

    @Test
    void higherPriorityWaitersGoFirst() throws Exception {
        Backend b = backend(0, 1);
        Admission admission = new Admission(List.of(b), Strategies.named("round_robin"), 1000);
        admission.acquire(call("holder", 1, 1000), Set.of());
        List<String> order = Collections.synchronizedList(new ArrayList<>());
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            threads.add(start(admission, b, "low", 0, order));
            awaitQueued(admission, i + 1);
        }
        threads.add(start(admission, b, "critical", 3, order));
        awaitQueued(admission, 6);
        admission.release(b);
        for (Thread t : threads) {
            t.join(5000);
        }
        assertThat(order.getFirst()).isEqualTo("critical");
    }

    @Test
    void aFullQueueRefusesAtOnce_andAWaiterPastItsDeadlineLeaves() throws Exception {
        Backend b = backend(0, 1);
        Admission admission = new Admission(List.of(b), Strategies.named("round_robin"), 1);
        admission.acquire(call("a", 1, 1000), Set.of());
        Thread waiter = Thread.ofVirtual().start(() -> assertThatThrownBy(() -> admission.acquire(call("a", 1, 300),
                Set.of())).isInstanceOfSatisfying(Admission.Rejected.class,
                        r -> assertThat(r.reason()).isEqualTo(Admission.Rejected.Reason.TIMEOUT)));
        awaitQueued(admission, 1);
        assertThatThrownBy(() -> admission.acquire(call("b", 1, 1000), Set.of()))
                .isInstanceOfSatisfying(Admission.Rejected.class,
                        r -> assertThat(r.reason()).isEqualTo(Admission.Rejected.Reason.QUEUE_FULL));
        waiter.join(5000);
        assertThat(admission.queued()).isZero();
        assertThat(b.inFlight()).isEqualTo(1);
    }

    @Test
    void anEjectedBackendTakesNothingUntilItsCooldownEnds_thenReturnsGradually() throws Exception {
        Backend b = backend(0, 8);
        Admission admission = new Admission(List.of(b), Strategies.named("round_robin"), 10);
        b.failed(System.nanoTime(), true);
        assertThatThrownBy(() -> admission.acquire(call("a", 1, 100), Set.of()))
                .isInstanceOfSatisfying(Admission.Rejected.class,
                        r -> assertThat(r.reason()).isEqualTo(Admission.Rejected.Reason.UNHEALTHY));
        long later = System.nanoTime() + Backend.BASE_COOLDOWN_NANOS + 1;
        assertThat(b.available(later)).isTrue();
        b.started(later);
        assertThat(b.available(later)).as("probation: one request at a time").isFalse();
        b.answered(later, 1_000_000L);
        b.started(later);
        assertThat(b.available(later)).as("after a success, two").isFalse();
        b.finished();
        assertThat(b.available(later)).isTrue();
    }

    private static Thread start(Admission admission, Backend b, String agent, int priority, List<String> order) {
        return Thread.ofVirtual().start(() -> {
            try {
                admission.acquire(call(agent, priority, 10_000), Set.of());
                order.add(agent);
                admission.release(b);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
    }

    private static void awaitQueued(Admission admission, int n) throws InterruptedException {
        while (admission.queued() < n) {
            Thread.sleep(1);
        }
    }
}
