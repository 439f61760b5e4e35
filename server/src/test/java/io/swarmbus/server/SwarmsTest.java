package io.swarmbus.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.messaging.BusConfig;
import io.swarmbus.messaging.MessageBus;
import io.swarmbus.registry.AgentProfile;
import io.swarmbus.registry.Registry;
import io.swarmbus.storage.DurableTable;
import io.swarmbus.storage.FsyncPolicy;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Swarm membership below HTTP, on a fixed clock, so that the ids it makes are known in advance. */
class SwarmsTest {
    static final Clock CLOCK = Clock.fixed(Instant.parse("2026-11-24T10:00:00Z"), ZoneOffset.UTC);

    @TempDir
    Path dir;
    MessageBus bus;
    Registry registry;
    Auth auth;
    Swarms swarms;

    @BeforeEach
    void open() {
        bus = MessageBus.open(BusConfig.builder(dir.resolve("bus")).build());
        registry = Registry.open(DurableTable.open(dir.resolve("registry"), FsyncPolicy.ALWAYS), CLOCK,
                Duration.ofMinutes(1));
        auth = new Auth(AccessStore.open(dir), registry, Tokens.hs256("0123456789abcdef0123456789abcdef-swarms",
                ServerSettings.JWT_SECRET_NAMES, Duration.ofMinutes(10), CLOCK), new RateLimiter(1_000, System::nanoTime), false);
        swarms = new Swarms(DurableTable.open(dir.resolve("swarm-members"), FsyncPolicy.ALWAYS), registry, bus, CLOCK);
    }

    @AfterEach
    void close() {
        bus.close();
    }

    @Test
    void aMemberJoinedWithoutAnAgentPassesOverIdsAlreadyTaken() {
        // The ids a join makes are predictable: the first two this clock gives.
        SortableIds predicted = new SortableIds(CLOCK);
        AgentId first = AgentId.of(predicted.next("member"));
        AgentId second = AgentId.of(predicted.next("member"));
        AgentId third = AgentId.of(predicted.next("member"));
        registry.register(new AgentProfile(first, "", "worker", Set.of(), 1, Map.of(), "mallory"));
        bus.createInbox(first);
        auth.addUser(second.value(), "a-password-of-some-length", false);

        ObjectNode member = swarms.join(auth, new Auth.Principal("alice", false), new Swarms.Join("monitor",
                "analysis", Optional.empty(), "medium", Optional.empty(), Optional.empty()));

        assertThat(member.get("member_id").asText()).isEqualTo(third.value());
        assertThat(registry.ownerOf(first)).as("another user's agent stays its").contains("mallory");
        assertThat(registry.get(second)).as("a user's name, its default agent id, is not taken").isEmpty();
        assertThat(registry.ownerOf(third)).contains("alice");
        assertThat(bus.hasInbox(third)).isTrue();
    }
}
