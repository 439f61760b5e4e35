package io.swarmbus.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.swarmbus.SwarmbusException;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.messaging.FakeClock;
import io.swarmbus.storage.DurableTable;
import io.swarmbus.storage.FsyncPolicy;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RegistryTest {
    @TempDir
    Path dir;
    final FakeClock clock = new FakeClock();
    Registry registry;

    @BeforeEach
    void open() {
        registry = Registry.open(DurableTable.open(dir, FsyncPolicy.ALWAYS), clock, Duration.ofSeconds(30));
    }

    @AfterEach
    void close() {
        registry.close();
    }

    static AgentProfile profile(String id, String role, int max, String... capabilities) {
        return new AgentProfile(AgentId.of(id), "", role, Set.of(capabilities), max, Map.of(), "team");
    }

    AgentId best(SelectionStrategy strategy, String... required) {
        return registry.best(Optional.empty(), Set.of(required), strategy, Set.of()).map(a -> a.profile().id()).orElse(null);
    }

    @Test
    void registerNew_takesOnlyAnIdNotRegisteredYet() {
        assertThat(registry.registerNew(profile("py", "worker", 1, "python"))).isTrue();
        assertThat(registry.registerNew(profile("py", "monitor", 3, "go"))).as("taken: left as it is").isFalse();
        assertThat(registry.require(AgentId.of("py")).profile().role()).isEqualTo("worker");
        registry.deregister(AgentId.of("py"));
        assertThat(registry.registerNew(profile("py", "monitor", 3, "go"))).isTrue();
    }

    @Test
    void find_requiresEveryCapability_andFiltersByStatusAndCapacity() {
        registry.register(profile("py", "worker", 1, "python", "testing"));
        registry.register(profile("py-api", "worker", 2, "python", "api_development"));
        registry.register(profile("js", "worker", 2, "javascript"));
        registry.heartbeat(AgentId.of("js"), Optional.of(AgentStatus.BUSY), Optional.empty(), Map.of());
        registry.taskAssigned(AgentId.of("py"));

        assertThat(registry.find(Optional.empty(), Set.of("python"), Set.of(), false, 10)).extracting(a -> a.profile().id().value())
                .containsExactly("py-api", "py"); // least loaded first
        assertThat(registry.find(Optional.empty(), Set.of("python", "api_development"), Set.of(), false, 10))
                .extracting(a -> a.profile().id().value()).containsExactly("py-api");
        assertThat(registry.find(Optional.empty(), Set.of("python"), Set.of(), true, 10)).extracting(a -> a.profile().id().value())
                .containsExactly("py-api"); // py is full
        assertThat(registry.find(Optional.empty(), Set.of(), Set.of(AgentStatus.BUSY), false, 10))
                .extracting(a -> a.profile().id().value()).containsExactly("js");
        assertThat(best(SelectionStrategy.LEAST_LOADED, "javascript")).as("busy agents take no work").isNull();
        assertThat(best(SelectionStrategy.LEAST_LOADED, "rust")).isNull();
    }

    @Test
    void leastLoaded_prefersFreeSlots_andSharesEquallyLoadedAgents() {
        for (String id : List.of("a", "b", "c", "d")) {
            registry.register(profile(id, "worker", 4, "work"));
        }
        registry.taskAssigned(AgentId.of("a"));
        registry.taskAssigned(AgentId.of("b"));
        assertThat(best(SelectionStrategy.LEAST_LOADED, "work")).isIn(AgentId.of("c"), AgentId.of("d"));

        registry.taskReleased(AgentId.of("a"));
        registry.taskReleased(AgentId.of("b"));

        // Tasks that finish at once never change load: ties go to the agent idle longest.
        Map<AgentId, Integer> counts = new HashMap<>();
        for (int i = 0; i < 1000; i++) {
            AgentId chosen = best(SelectionStrategy.LEAST_LOADED, "work");
            counts.merge(chosen, 1, Integer::sum);
            registry.taskAssigned(chosen);
            registry.taskFinished(chosen, true, Duration.ofMillis(5));
        }
        assertThat(counts.values()).allSatisfy(n -> assertThat(n).isBetween(225, 275));
    }

    @Test
    void roundRobin_takesEachCapableAgentInTurn() {
        registry.register(profile("a", "worker", 1, "x"));
        registry.register(profile("b", "worker", 1, "x"));
        registry.register(profile("c", "worker", 1, "y"));

        assertThat(List.of(best(SelectionStrategy.ROUND_ROBIN, "x"), best(SelectionStrategy.ROUND_ROBIN, "x"),
                best(SelectionStrategy.ROUND_ROBIN, "x"))).extracting(AgentId::value).containsExactly("a", "b", "a");
    }

    @Test
    void random_reachesEveryCapableAgent_andOnlyThem() {
        for (int i = 0; i < 5; i++) {
            registry.register(profile("w" + i, "worker", 1, "x"));
        }
        registry.register(profile("other", "worker", 1, "y"));
        Map<AgentId, Integer> counts = new HashMap<>();
        for (int i = 0; i < 500; i++) {
            counts.merge(best(SelectionStrategy.RANDOM, "x"), 1, Integer::sum);
        }
        assertThat(counts).hasSize(5).doesNotContainKey(AgentId.of("other"));
    }

    @Test
    void weighted_favoursAgentsThatSucceedAndAreFast() {
        registry.register(profile("good", "worker", 10, "x"));
        registry.register(profile("poor", "worker", 10, "x"));
        for (int i = 0; i < 20; i++) {
            registry.taskAssigned(AgentId.of("good"));
            registry.taskFinished(AgentId.of("good"), true, Duration.ofMillis(200));
            registry.taskAssigned(AgentId.of("poor"));
            registry.taskFinished(AgentId.of("poor"), i % 3 == 0, Duration.ofSeconds(4));
        }
        Map<AgentId, Integer> counts = new HashMap<>();
        for (int i = 0; i < 2000; i++) {
            counts.merge(best(SelectionStrategy.WEIGHTED), 1, Integer::sum);
        }
        assertThat(counts.get(AgentId.of("good"))).isGreaterThan(5 * counts.getOrDefault(AgentId.of("poor"), 0));
        assertThat(counts.get(AgentId.of("poor"))).as("still tried now and then").isPositive();
    }

    @Test
    void excluded_agentsAreSkipped_unlessNoneElseQualifies() {
        registry.register(profile("a", "worker", 1, "x"));
        registry.register(profile("b", "worker", 1, "x"));

        assertThat(registry.best(Optional.empty(), Set.of("x"), SelectionStrategy.LEAST_LOADED, Set.of(AgentId.of("a"))))
                .map(a -> a.profile().id().value()).contains("b");
        assertThat(registry.best(Optional.empty(), Set.of("x"), SelectionStrategy.LEAST_LOADED, Set.of(AgentId.of("a"), AgentId.of("b"))))
                .isEmpty();
    }

    @Test
    void ownerScope_limitsSelectionFindingAndStats() {
        registry.register(profile("teams", "worker", 1, "x"));
        registry.register(profile("bobs", "worker", 1, "x").withOwner("bob"));

        assertThat(registry.best(Optional.of("bob"), Set.of("x"), SelectionStrategy.LEAST_LOADED, Set.of()))
                .map(a -> a.profile().id().value()).contains("bobs");
        assertThat(registry.find(Optional.of("team"), Set.of(), Set.of(), false, 10))
                .extracting(a -> a.profile().id().value()).containsExactly("teams");
        assertThat(registry.stats(Optional.of("bob")).total()).isEqualTo(1);
        assertThat(registry.best(Optional.of("carol"), Set.of("x"), SelectionStrategy.RANDOM, Set.of())).isEmpty();
    }

    @Test
    void missedHeartbeats_markAgentsOffline_andAHeartbeatBringsThemBack() {
        registry.register(profile("a", "worker", 1, "x"));
        registry.register(profile("b", "worker", 1, "x"));
        clock.advance(Duration.ofSeconds(20));
        registry.heartbeat(AgentId.of("b"), Optional.empty(), Optional.of(0), Map.of("cpu", 0.5));
        clock.advance(Duration.ofSeconds(15));

        assertThat(registry.sweep()).containsExactly(AgentId.of("a"));
        assertThat(registry.sweep()).as("reported once").isEmpty();
        assertThat(registry.require(AgentId.of("a")).status()).isEqualTo(AgentStatus.OFFLINE);
        assertThat(best(SelectionStrategy.LEAST_LOADED, "x")).isEqualTo(AgentId.of("b"));
        assertThat(registry.require(AgentId.of("b")).health()).containsEntry("cpu", 0.5);

        registry.heartbeat(AgentId.of("a"), Optional.empty(), Optional.empty(), Map.of());
        assertThat(registry.require(AgentId.of("a")).status()).isEqualTo(AgentStatus.ACTIVE);
    }

    @Test
    void profilesSurviveARestart_andAgentsGetOneTtlToHeartbeat() {
        registry.register(new AgentProfile(AgentId.of("a"), "plans things", "Supervisor", Set.of("planning"), 20,
                Map.of("team", "backend"), "alice"));
        registry.register(profile("gone", "worker", 1));
        registry.deregister(AgentId.of("gone"));
        registry.close();
        clock.advance(Duration.ofMinutes(10));

        open();
        AgentInfo a = registry.require(AgentId.of("a"));
        assertThat(a.profile().role()).isEqualTo("supervisor");
        assertThat(a.profile().capabilities()).containsExactly("planning");
        assertThat(a.profile().metadata()).containsEntry("team", "backend");
        assertThat(a.profile().owner()).isEqualTo("alice");
        assertThat(a.status()).isEqualTo(AgentStatus.ACTIVE);
        assertThat(registry.get(AgentId.of("gone"))).isEmpty();
        assertThat(registry.sweep()).isEmpty();
    }

    @Test
    void stats_countByStatusAndRole_andAverageTheLoad() {
        registry.register(profile("s", "supervisor", 10));
        registry.register(profile("w1", "worker", 2));
        registry.register(profile("w2", "worker", 2));
        registry.taskAssigned(AgentId.of("w1"));
        registry.heartbeat(AgentId.of("w2"), Optional.of(AgentStatus.IDLE), Optional.empty(), Map.of());

        RegistryStats stats = registry.stats(Optional.empty());
        assertThat(stats.total()).isEqualTo(3);
        assertThat(stats.byRole()).containsEntry("worker", 2).containsEntry("supervisor", 1);
        assertThat(stats.byStatus()).containsEntry(AgentStatus.ACTIVE, 2).containsEntry(AgentStatus.IDLE, 1);
        assertThat(stats.averageLoad()).isCloseTo(0.5 / 3, org.assertj.core.data.Offset.offset(1e-9));
    }

    @Test
    void invalidProfiles_areRefusedNamingTheField() {
        assertThatThrownBy(() -> profile("a", "Chief Of Staff", 1)).isInstanceOf(SwarmbusException.class)
                .hasMessageContaining("was 'Chief Of Staff'") // as given
                .extracting(e -> ((SwarmbusException) e).field().orElseThrow()).isEqualTo("role");
        assertThatThrownBy(() -> profile("a", "worker", 0)).extracting(e -> ((SwarmbusException) e).field()
                .orElseThrow()).isEqualTo("max_concurrent_tasks");
        assertThatThrownBy(() -> profile("a", "worker", 1, "has space")).extracting(e -> ((SwarmbusException) e)
                .field().orElseThrow()).isEqualTo("capabilities");
        assertThatThrownBy(() -> registry.heartbeat(AgentId.of("nobody"), Optional.empty(), Optional.empty(), Map.of()))
                .isInstanceOf(SwarmbusException.class).hasMessageContaining("not found");
    }
}
