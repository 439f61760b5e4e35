package io.swarmbus.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigTest {
    @TempDir
    Path dir;

    @Test
    void layers_fileThenEnvironmentThenFlags() throws Exception {
        Path file = Files.writeString(dir.resolve("swarmbus.yaml"), """
                server:
                  port: 9000
                  host: 10.1.2.3
                limits:
                  rate_limit_per_minute: 50
                messaging:
                  max_deliveries: 7
                """);

        Config config = Config.load(Optional.of(file), Map.of("PORT", "9100", "RATE_LIMIT_PER_MINUTE", "60"),
                Map.of("server.port", "9200"));

        assertThat(config.get(Config.PORT)).isEqualTo(9200);
        assertThat(config.get(Config.HOST)).isEqualTo("10.1.2.3");
        assertThat(config.get(Config.RATE_LIMIT)).isEqualTo(60);
        assertThat(config.get(Config.MAX_DELIVERIES)).isEqualTo(7);
        assertThat(config.get(Config.TOKEN_EXPIRE_MINUTES)).isEqualTo(1440);
        assertThat(Main.busConfig(config).maxDeliveries()).isEqualTo(7);
    }

    /** Regression: the file's load_balancing.strategy won over LLM_STRATEGY and --llm-strategy, later layers. */
    @Test
    void loadBalancingStrategyInTheFile_givesWayToTheEnvironmentAndFlags() throws Exception {
        Path file = Files.writeString(dir.resolve("swarmbus.yaml"), """
                llm:
                  strategy: weighted
                load_balancing:
                  strategy: round_robin
                """);

        assertThat(Config.load(Optional.of(file), Map.of(), Map.of()).get(Config.LLM_STRATEGY))
                .isEqualTo("round_robin");
        assertThat(Config.load(Optional.of(file), Map.of("LLM_STRATEGY", "peak_ewma"), Map.of())
                .get(Config.LLM_STRATEGY)).isEqualTo("peak_ewma");
        Config flagged = Config.load(Optional.of(file), Map.of(),
                Main.flags(Map.of("llm-strategy", "power_of_two")));
        assertThat(Main.llmSettings(flagged, Map.of()).strategy()).isEqualTo("power_of_two");
    }

    @Test
    void theLlmGateway_takesAgentSchedsBlocks_backendsAndLimitsFromYaml() throws Exception {
        Path file = Files.writeString(dir.resolve("swarmbus.yaml"), """
                scaling:
                  min_agents: 2
                  max_agents: 10
                  scaling_factor: 1.5
                load_balancing:
                  strategy: "round_robin"
                connection_pool:
                  max_connections: 100
                  timeout: 30
                llm:
                  backends:
                    - http://10.0.0.1:8000/v1
                    - {url: "http://10.0.0.2:8000/v1", max_concurrency: 8, rpm: 600}
                  limits:
                    agent: {rpm: 60, daily_cost: 5}
                    keys: {alice: {tpm: 100000}}
                  routes:
                    chat-model: {strategy: prefix_affinity}
                """);
        io.swarmbus.llm.GatewaySettings llm = Main.llmSettings(Config.load(Optional.of(file), Map.of(), Map.of()),
                Map.of());

        assertThat(llm.strategy()).isEqualTo("round_robin");
        assertThat(llm.requestTimeout()).hasSeconds(30);
        assertThat(llm.backends()).extracting(io.swarmbus.llm.BackendSpec::maxConcurrency).containsExactly(100, 8);
        assertThat(llm.scaling().minAgents()).isEqualTo(2);
        assertThat(llm.scaling().factor()).isEqualTo(1.5);
        assertThat(llm.quotas().perAgent().rpm()).isEqualTo(60);
        assertThat(llm.quotas().keys().get("alice").tpm()).isEqualTo(100_000);
        assertThat(llm.stateFile()).hasFileName("llm-usage.json");
        assertThat(llm.routeStrategies()).containsExactly(Map.entry("chat-model", "prefix_affinity"));
        Path unknownStrategy = Files.writeString(dir.resolve("route.yaml"), "llm:\n  routes:\n    m: {strategy: fastest}\n");
        assertThatThrownBy(() -> Main.llmSettings(Config.load(Optional.of(unknownStrategy), Map.of(), Map.of()), Map.of()))
                .hasMessageContaining("llm.routes").hasMessageContaining("fastest");
        Path anyCase = Files.writeString(dir.resolve("route-case.yaml"),
                "llm:\n  routes:\n    m: {strategy: Prefix_Affinity}\n");
        assertThat(Main.llmSettings(Config.load(Optional.of(anyCase), Map.of(), Map.of()), Map.of()).routeStrategies())
                .as("in any case, as every other enum setting").containsExactly(Map.entry("m", "prefix_affinity"));

        Path bad = Files.writeString(dir.resolve("bad.yaml"), "llm:\n  limits:\n    agent: {rpm: lots}\n");
        assertThatThrownBy(() -> Main.llmSettings(Config.load(Optional.of(bad), Map.of(), Map.of()), Map.of()))
                .hasMessageContaining("llm.limits").hasMessageContaining("rpm");
        Path backwards = Files.writeString(dir.resolve("backwards.yaml"), "scaling:\n  min_agents: 5\n  max_agents: 2\n");
        assertThatThrownBy(() -> Main.llmSettings(Config.load(Optional.of(backwards), Map.of(), Map.of()), Map.of()))
                .hasMessageContaining("scaling");
    }

    /** Regression: a list or a number where llm.fallbacks and llm.routes take maps started without a word. */
    @Test
    void llmFallbacksAndRoutes_ofTheWrongShape_areRefusedSayingWhatIsExpected() throws Exception {
        Path good = Files.writeString(dir.resolve("good.yaml"), """
                llm:
                  fallbacks: {gpt-4o: [gpt-4o-mini, gpt-3.5], big: small}
                """);
        assertThat(Main.llmSettings(Config.load(Optional.of(good), Map.of(), Map.of()), Map.of()).fallbacks())
                .containsExactlyInAnyOrderEntriesOf(Map.of("gpt-4o", java.util.List.of("gpt-4o-mini", "gpt-3.5"),
                        "big", java.util.List.of("small")));

        Map<String, String> refused = Map.of(
                "llm:\n  fallbacks: [a, b]\n", "config key 'llm.fallbacks' is invalid: expected a map from a model "
                        + "to the models tried in its place, like {gpt-4o: [gpt-4o-mini]}, was [\"a\",\"b\"]",
                "llm:\n  fallbacks: {m: 5}\n", "config key 'llm.fallbacks' is invalid: 'm' must map to a model or a "
                        + "list of models, was 5",
                "llm:\n  fallbacks: {m: [a, {b: c}]}\n", "config key 'llm.fallbacks' is invalid: 'm' must map to a "
                        + "model or a list of models, was [\"a\",{\"b\":\"c\"}]",
                "llm:\n  routes: [a, b]\n", "config key 'llm.routes' is invalid: expected a map from a model to "
                        + "{strategy: name}, like {sim-model: {strategy: prefix_affinity}}, was [\"a\",\"b\"]",
                "llm:\n  routes: {m: prefix_affinity}\n", "config key 'llm.routes' is invalid: 'm' must map to "
                        + "{strategy: name}, was \"prefix_affinity\"");
        for (Map.Entry<String, String> bad : refused.entrySet()) {
            Path file = Files.writeString(dir.resolve("bad.yaml"), bad.getKey());
            assertThatThrownBy(() -> Main.llmSettings(Config.load(Optional.of(file), Map.of(), Map.of()), Map.of()))
                    .as(bad.getKey()).hasMessage(bad.getValue());
        }
    }

    /**
     * Regression: a backend URL with a user and password in it was taken, never sent as
     * credentials, and shown to every user by GET /api/v1/llm/backends.
     */
    @Test
    void anLlmBackendUrlWithCredentialsInIt_isRefusedPointingToApiKeyEnv() throws Exception {
        Path file = Files.writeString(dir.resolve("creds.yaml"), """
                llm:
                  backends:
                    - url: "https://user:secret@llm.example:8443/v1"
                """);
        assertThatThrownBy(() -> Main.llmSettings(Config.load(Optional.of(file), Map.of(), Map.of()), Map.of()))
                .hasMessageContaining("must not carry a user or password").hasMessageContaining("api_key_env")
                .hasMessageNotContaining("secret");
    }

    @Test
    void theSeedsKafkaVariables_areReadAndChecked_andAgentSchedsAgentsBlockIsRefusedWithAPointer() throws Exception {
        Config seed = Config.load(Optional.empty(), Map.of("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092, kafka-2:9092",
                "KAFKA_TOPIC_PREFIX", "agent_messaging_", "KAFKA_NUM_PARTITIONS", "6", "KAFKA_REPLICATION_FACTOR", "1"),
                Map.of());
        assertThat(seed.get(Config.KAFKA_BOOTSTRAP_SERVERS)).isEqualTo("kafka:9092,kafka-2:9092");
        assertThat(seed.get(Config.KAFKA_TOPIC_PREFIX)).isEqualTo("agent_messaging_");
        assertThat(seed.get(Config.KAFKA_NUM_PARTITIONS)).isEqualTo(6);
        assertThat(Config.load(Optional.empty(), Map.of(), Map.of()).get(Config.KAFKA_BOOTSTRAP_SERVERS)).isEmpty();
        assertThatThrownBy(() -> Config.load(Optional.empty(), Map.of("KAFKA_REPLICATION_FACTOR", "0"), Map.of()))
                .hasMessageContaining("kafka.replication_factor");
        assertThatThrownBy(() -> Config.load(Optional.empty(), Map.of("KAFKA_BOOTSTRAP_SERVERS", "kafka"), Map.of()))
                .hasMessageContaining("kafka.bootstrap_servers").hasMessageContaining("'kafka' is not host:port");

        Path agents = Files.writeString(dir.resolve("agents.yaml"), """
                agents:
                  - id: "agent1"
                    model: "gpt-3.5-turbo"
                """);
        assertThatThrownBy(() -> Config.load(Optional.of(agents), Map.of(), Map.of()))
                .hasMessageContaining("declares 'agents'").hasMessageContaining("/api/v1/managed-agents");
    }

    @Test
    void invalidValues_failNamingTheKey() throws Exception {
        assertThatThrownBy(() -> Config.load(Optional.empty(), Map.of("PORT", "eighty"), Map.of()))
                .hasMessageContaining("config key 'server.port' (from PORT) is invalid: expected a whole number "
                        + "(was 'eighty')");
        assertThatThrownBy(() -> Config.load(Optional.empty(), Map.of("TOKEN_EXPIRE_MINUTES", "0"), Map.of()))
                .hasMessageContaining("auth.token_expire_minutes");
        assertThatThrownBy(() -> Config.load(Optional.empty(), Map.of("JWT_ALGORITHM", "none"), Map.of()))
                .hasMessageContaining("auth.jwt_algorithm");
        Path file = Files.writeString(dir.resolve("bad.yaml"), "server:\n  prot: 1\n");
        assertThatThrownBy(() -> Config.load(Optional.of(file), Map.of(), Map.of()))
                .hasMessageContaining("unknown key 'server.prot'");
    }

    /** Regression: the names an enum key takes were listed in an order that changed from run to run. */
    @Test
    void anUnknownStrategy_failsListingTheNamesInOrder() {
        assertThatThrownBy(() -> Config.load(Optional.empty(), Map.of("LLM_STRATEGY", "fastest"), Map.of()))
                .hasMessage("config key 'llm.strategy' (from LLM_STRATEGY) is invalid: must be one of [cost_based, least_outstanding, "
                        + "peak_ewma, power_of_two, prefix_affinity, round_robin, usage_based, weighted] (was 'fastest')");
    }

    /** Regression: only auth.jwt_algorithm took its value in any case; ROUND_ROBIN or Interval was refused. */
    @Test
    void everyEnumKey_takesItsValueInAnyCase_fromTheFileAndTheEnvironment() throws Exception {
        Config env = Config.load(Optional.empty(), Map.of("LLM_STRATEGY", "Round_Robin", "SWARMBUS_FSYNC_POLICY",
                "INTERVAL", "JWT_ALGORITHM", "hs256"), Map.of());
        assertThat(env.get(Config.LLM_STRATEGY)).isEqualTo("round_robin");
        assertThat(env.get(Config.FSYNC_POLICY)).isEqualTo("interval");
        assertThat(env.get(Config.JWT_ALGORITHM)).isEqualTo("HS256");
        Path file = Files.writeString(dir.resolve("case.yaml"), """
                storage: {fsync_policy: Interval}
                auth: {jwt_algorithm: rs256}
                load_balancing: {strategy: PEAK_EWMA}
                """);
        Config fromFile = Config.load(Optional.of(file), Map.of(), Map.of());
        assertThat(fromFile.get(Config.FSYNC_POLICY)).isEqualTo("interval");
        assertThat(fromFile.get(Config.JWT_ALGORITHM)).isEqualTo("RS256");
        assertThat(fromFile.get(Config.LLM_STRATEGY)).isEqualTo("peak_ewma");
        assertThat(Main.busConfig(fromFile).journal().fsyncPolicy()).isEqualTo(io.swarmbus.storage.FsyncPolicy.INTERVAL);
        assertThatThrownBy(() -> Config.load(Optional.empty(), Map.of("SWARMBUS_FSYNC_POLICY", "Never"), Map.of()))
                .hasMessage("config key 'storage.fsync_policy' (from SWARMBUS_FSYNC_POLICY) is invalid: must be one "
                        + "of [always, interval] (was 'Never')");
    }

    /** Regression: the file took 0x1F90, 8_080 and 0777 (octal) as numbers, which the environment refuses. */
    @Test
    void aNumberOutsideDecimalDigits_isRefusedFromTheFileAsFromTheEnvironment() throws Exception {
        for (String written : java.util.List.of("0x1F90", "8_080", "0777", "0b1010", "1:30")) {
            Path file = Files.writeString(dir.resolve("number.yaml"), "server:\n  port: " + written + "\n");
            String fromEnv = catchMessage(() -> Config.load(Optional.empty(), Map.of("PORT", written), Map.of()));
            assertThat(fromEnv).as(written).startsWith("config key 'server.port' (from PORT) is invalid: expected a "
                    + "whole number");
            assertThatThrownBy(() -> Config.load(Optional.of(file), Map.of(), Map.of())).as(written)
                    .hasMessage(fromEnv.replace(" (from PORT)", ""));
        }
        assertThatThrownBy(() -> Config.load(Optional.empty(), Map.of("PORT", "0777"), Map.of()))
                .hasMessage("config key 'server.port' (from PORT) is invalid: expected a whole number without "
                        + "leading zeros (was '0777')");
        Path limits = Files.writeString(dir.resolve("limits.yaml"), "llm:\n  limits:\n    agent: {rpm: 0x10}\n");
        assertThatThrownBy(() -> Config.load(Optional.of(limits), Map.of(), Map.of()))
                .hasMessage("config key 'llm.limits.agent.rpm' is invalid: expected a number in decimal digits "
                        + "(was '0x10')");
        Path plain = Files.writeString(dir.resolve("plain.yaml"), "server: {port: 8080}\nscaling: "
                + "{scaling_factor: 2.5}\nllm:\n  limits:\n    agent: {rpm: 60, daily_cost: 0.5}\n");
        Config config = Config.load(Optional.of(plain), Map.of(), Map.of());
        assertThat(config.get(Config.PORT)).isEqualTo(8080);
        assertThat(config.get(Config.SCALING_FACTOR)).isEqualTo(2.5);
    }

    /** Regression: a number setting took what Java reads as a double: 0x1p3 (hex), 1.5f, 2d. */
    @Test
    void aFractionalNumberOutsideDecimalDigits_isRefusedNamingTheKey() throws Exception {
        for (String written : java.util.List.of("0x1p3", "'0x1p3'", "1.5f", "2d", "01.5")) {
            Path file = Files.writeString(dir.resolve("factor.yaml"), "scaling:\n  scaling_factor: " + written + "\n");
            assertThatThrownBy(() -> Config.load(Optional.of(file), Map.of(), Map.of())).as(written)
                    .hasMessageStartingWith("config key 'scaling.scaling_factor' is invalid: expected a number");
        }
        Path share = Files.writeString(dir.resolve("share.yaml"), "scaling:\n  target_utilization: '0x1p-1'\n");
        assertThatThrownBy(() -> Config.load(Optional.of(share), Map.of(), Map.of()))
                .hasMessageStartingWith("config key 'scaling.target_utilization' is invalid: expected a number");
        for (String written : java.util.List.of("2.5", "1e1", "3")) {
            Path file = Files.writeString(dir.resolve("ok.yaml"), "scaling:\n  scaling_factor: " + written + "\n");
            assertThat(Config.load(Optional.of(file), Map.of(), Map.of()).get(Config.SCALING_FACTOR))
                    .isEqualTo(Double.parseDouble(written));
        }
    }

    private static String catchMessage(Runnable call) {
        try {
            call.run();
        } catch (IllegalArgumentException e) {
            return e.getMessage();
        }
        throw new AssertionError("not refused");
    }

    @Test
    void origin_namesWhereTheValueCameFrom_orEveryWayToSetIt() throws Exception {
        Path file = Files.writeString(dir.resolve("origin.yaml"), "auth: {jwt_secret: from-the-file}\n"
                + "storage: {data_dir: file-data}\n");
        Config fromFile = Config.load(Optional.of(file), Map.of(), Map.of());
        assertThat(fromFile.origin(Config.JWT_SECRET)).isEqualTo("auth.jwt_secret");
        assertThat(fromFile.origin(Config.DATA_DIR)).isEqualTo("storage.data_dir");
        Config overridden = Config.load(Optional.of(file), Map.of("JWT_SECRET", "from-the-environment"),
                Main.flags(Map.of("data-dir", "flag-data")));
        assertThat(overridden.origin(Config.JWT_SECRET)).isEqualTo("JWT_SECRET");
        assertThat(overridden.origin(Config.DATA_DIR)).isEqualTo("--data-dir");
        Config unset = Config.load(Optional.empty(), Map.of(), Map.of());
        assertThat(unset.origin(Config.JWT_SECRET)).isEqualTo("auth.jwt_secret (JWT_SECRET)");
    }

    /** Regression: a whole number too large for 64 bits was refused as "expected a whole number". */
    @Test
    void aWholeNumberBeyond64Bits_failsAsOutOfRange() {
        assertThatThrownBy(() -> Config.load(Optional.empty(), Map.of("PORT", "99999999999999999999"), Map.of()))
                .hasMessage("config key 'server.port' (from PORT) is invalid: must be 0 to 65535 "
                        + "(was '99999999999999999999')");
    }

    /**
     * Regression: a short admin password passed every check at start, then failed creating the user
     * with "password must be 8 to 256 characters", naming no setting; the value is not echoed.
     */
    @Test
    void anAdminPasswordTooShort_failsNamingTheKey_withoutShowingIt() {
        assertThatThrownBy(() -> Config.load(Optional.empty(), Map.of("SWARMBUS_ADMIN_PASSWORD", "hunter2"), Map.of()))
                .hasMessage("config key 'auth.admin_password' (from SWARMBUS_ADMIN_PASSWORD) is invalid: must be 8 "
                        + "to 256 characters, or empty to have one generated");
        assertThat(Config.load(Optional.empty(), Map.of("SWARMBUS_ADMIN_PASSWORD", "hunter22"), Map.of())
                .get(Config.ADMIN_PASSWORD)).isEqualTo("hunter22");
        assertThat(Config.load(Optional.empty(), Map.of(), Map.of()).get(Config.ADMIN_PASSWORD)).isEmpty();
    }

    /** Regression: an empty data directory wrote into the current one and then failed; an empty host listened on "". */
    @Test
    void emptyValuesAndListsWhereOneValueBelongs_failNamingTheKey() throws Exception {
        assertThatThrownBy(() -> Config.load(Optional.empty(), Map.of("SWARMBUS_DATA_DIR", ""), Map.of()))
                .hasMessage("config key 'storage.data_dir' (from SWARMBUS_DATA_DIR) is invalid: must not be empty "
                        + "(was '')");
        assertThatThrownBy(() -> Config.load(Optional.empty(), Map.of(), Map.of("storage.data_dir", " ")))
                .hasMessageContaining("config key 'storage.data_dir' (from --data-dir) is invalid: must not be empty");
        assertThatThrownBy(() -> Config.load(Optional.empty(), Map.of("HOST", ""), Map.of()))
                .hasMessageContaining("config key 'server.host' (from HOST) is invalid: must not be empty");
        Path emptyDir = Files.writeString(dir.resolve("empty-dir.yaml"), "storage: {data_dir: \"\"}\n");
        assertThatThrownBy(() -> Config.load(Optional.of(emptyDir), Map.of(), Map.of()))
                .hasMessageContaining("config key 'storage.data_dir' is invalid: must not be empty");
        Path noHost = Files.writeString(dir.resolve("no-host.yaml"), "server:\n  host:\n");
        assertThatThrownBy(() -> Config.load(Optional.of(noHost), Map.of(), Map.of()))
                .hasMessageContaining("config key 'server.host' is invalid: must not be empty");
        Path hosts = Files.writeString(dir.resolve("hosts.yaml"), "server: {host: [a, b]}\n");
        assertThatThrownBy(() -> Config.load(Optional.of(hosts), Map.of(), Map.of()))
                .hasMessage("config key 'server.host' is invalid: it takes one value, not a list (was [\"a\",\"b\"])");
        Path ports = Files.writeString(dir.resolve("ports.yaml"), "server:\n  port:\n    - 1\n");
        assertThatThrownBy(() -> Config.load(Optional.of(ports), Map.of(), Map.of()))
                .hasMessageContaining("config key 'server.port' is invalid: it takes one value, not a list");
    }

    /** Regression: a section given one value was called an unknown key, and a map under a key a key under it. */
    @Test
    void aSectionGivenOneValue_orAKeyGivenAMap_failsNamingTheShapeExpected() throws Exception {
        Path section = Files.writeString(dir.resolve("section.yaml"), "load_balancing: round_robin\n");
        assertThatThrownBy(() -> Config.load(Optional.of(section), Map.of(), Map.of()))
                .hasMessage("config key 'load_balancing' is invalid: it is a section, a map of keys like "
                        + "'load_balancing.strategy', not one value (was 'round_robin')");
        Path sectionList = Files.writeString(dir.resolve("section-list.yaml"), "server:\n  - port: 9000\n");
        assertThatThrownBy(() -> Config.load(Optional.of(sectionList), Map.of(), Map.of()))
                .hasMessage("config key 'server' is invalid: it is a section, a map of keys like 'server.host', "
                        + "not one value (was [{\"port\":9000}])");
        Path keyMap = Files.writeString(dir.resolve("key-map.yaml"), "server:\n  port: {number: 9000}\n");
        assertThatThrownBy(() -> Config.load(Optional.of(keyMap), Map.of(), Map.of()))
                .hasMessage("config key 'server.port' is invalid: it takes one value, not a map (was {\"number\":9000})");
    }

    /** Regression: a map for llm.backends was called "not a URL"; one for kafka.topics was taken. */
    @Test
    void aListKeyGivenAMap_failsSayingItTakesAList() throws Exception {
        Path backends = Files.writeString(dir.resolve("backends.yaml"), "llm:\n  backends: {url: \"http://h:8000/v1\"}\n");
        assertThatThrownBy(() -> Config.load(Optional.of(backends), Map.of(), Map.of()))
                .hasMessage("config key 'llm.backends' is invalid: it takes a list, not a map "
                        + "(was {\"url\":\"http://h:8000/v1\"})");
        Path topics = Files.writeString(dir.resolve("topics.yaml"), "kafka:\n  topics: {tasks: 6}\n");
        assertThatThrownBy(() -> Config.load(Optional.of(topics), Map.of(), Map.of()))
                .hasMessage("config key 'kafka.topics' is invalid: it takes a list, not a map (was {\"tasks\":6})");
    }

    /** Regression: a key given twice in the file was settled silently by the last, a section given twice by the last whole. */
    @Test
    void aKeyGivenTwiceInTheFile_failsNamingTheKey() throws Exception {
        Path port = Files.writeString(dir.resolve("port-twice.yaml"), "server:\n  port: 9000\n  port: 9001\n");
        assertThatThrownBy(() -> Config.load(Optional.of(port), Map.of(), Map.of()))
                .hasMessage("config file " + port + " gives the key 'server.port' twice (line 3); give each key once");
        Path section = Files.writeString(dir.resolve("section-twice.yaml"),
                "server:\n  port: 9000\nlimits:\n  rate_limit_per_minute: 5\nserver:\n  host: 10.1.2.3\n");
        assertThatThrownBy(() -> Config.load(Optional.of(section), Map.of(), Map.of()))
                .hasMessage("config file " + section + " gives the key 'server' twice (line 5); give each key once");
    }

    /** Regression: a key given both with dots in its name and nested was settled silently by the last. */
    @Test
    void aKeyGivenDottedAndNested_failsNamingTheKey() throws Exception {
        Path file = Files.writeString(dir.resolve("both.yaml"), "server.port: 9000\nserver:\n  port: 9001\n");
        assertThatThrownBy(() -> Config.load(Optional.of(file), Map.of(), Map.of()))
                .hasMessage("config key 'server.port' is given twice in the file, once with dots in its name and once "
                        + "nested; give each key once");
        Path dotted = Files.writeString(dir.resolve("dotted.yaml"), "server.port: 9000\n");
        assertThat(Config.load(Optional.of(dotted), Map.of(), Map.of()).get(Config.PORT)).isEqualTo(9000);
    }

    /** Regression: dev mode from the environment or the file kept the host 0.0.0.0, unlike --dev. */
    @Test
    void devMode_howeverSwitchedOn_defaultsTheHostToLoopback_unlessAHostIsSet() throws Exception {
        Path devFile = Files.writeString(dir.resolve("dev.yaml"), "server:\n  dev_mode: true\n");

        assertThat(Config.load(Optional.empty(), Map.of(), Map.of()).get(Config.HOST)).isEqualTo("0.0.0.0");
        assertThat(Config.load(Optional.empty(), Map.of("SWARMBUS_DEV", "true"), Map.of()).get(Config.HOST))
                .isEqualTo("127.0.0.1");
        assertThat(Config.load(Optional.of(devFile), Map.of(), Map.of()).get(Config.HOST)).isEqualTo("127.0.0.1");
        assertThat(Config.load(Optional.empty(), Map.of(), Main.flags(Map.of("dev", "true"))).get(Config.HOST))
                .isEqualTo("127.0.0.1");
        assertThat(Config.load(Optional.of(devFile), Map.of("HOST", "0.0.0.0"), Map.of()).get(Config.HOST))
                .isEqualTo("0.0.0.0");
        assertThat(Config.load(Optional.empty(), Map.of("SWARMBUS_DEV", "true"), Map.of("server.host", "10.1.2.3"))
                .get(Config.HOST)).isEqualTo("10.1.2.3");
    }

    /** Regression: an empty file, or one of comments, was refused with "unknown key ''". */
    @Test
    void aFileOfNoSettings_isNoSettings_whileOneThatIsNotAMap_isRefused() throws Exception {
        Path empty = Files.writeString(dir.resolve("empty.yaml"), "");
        Path comments = Files.writeString(dir.resolve("comments.yaml"), "# nothing set yet\n# server:\n");

        assertThat(Config.load(Optional.of(empty), Map.of(), Map.of()).get(Config.PORT)).isEqualTo(8080);
        assertThat(Config.load(Optional.of(comments), Map.of(), Map.of()).get(Config.PORT)).isEqualTo(8080);
        Path list = Files.writeString(dir.resolve("list.yaml"), "- server\n- port\n");
        assertThatThrownBy(() -> Config.load(Optional.of(list), Map.of(), Map.of()))
                .hasMessageContaining("config file " + list + " holds a list at the top; it must be a map of settings");
        Path scalar = Files.writeString(dir.resolve("scalar.yaml"), "port 8080\n");
        assertThatThrownBy(() -> Config.load(Optional.of(scalar), Map.of(), Map.of()))
                .hasMessageContaining("holds a single value at the top");
        Path missing = dir.resolve("missing.yaml");
        assertThatThrownBy(() -> Config.load(Optional.of(missing), Map.of(), Map.of()))
                .hasMessage("config file " + missing + " does not exist");
    }

    /** Regression: a file that could not be read was reported with its path twice: "cannot read config file x: x: ...". */
    @Test
    void anUnreadableConfigFile_failsSayingWhyOnce() throws Exception {
        Path plain = Files.writeString(dir.resolve("plain"), "");
        Path underAFile = plain.resolve("swarmbus.yaml");
        assertThatThrownBy(() -> Config.load(Optional.of(underAFile), Map.of(), Map.of()))
                .hasMessage("cannot read config file " + underAFile + ": Not a directory");
    }

    /** Regression: an empty --config was read as the current directory: "cannot read config file : Is a directory". */
    @Test
    void anEmptyConfigPath_failsSayingSo() {
        assertThatThrownBy(() -> Config.load(Optional.of(Path.of("")), Map.of(), Map.of()))
                .hasMessage("--config is empty; give the path of a YAML file");
    }

    /** Regression: a scaling range upside down, or a utilization above 1, was refused naming neither key nor value. */
    @Test
    void scalingMinAboveMax_orUtilizationAboveOne_failsNamingTheKeyAndValue() throws Exception {
        Path backwards = Files.writeString(dir.resolve("backwards.yaml"), "scaling:\n  min_agents: 5\n  max_agents: 2\n");
        assertThatThrownBy(() -> Config.load(Optional.of(backwards), Map.of(), Map.of()))
                .hasMessage("config key 'scaling.min_agents' is invalid: must be at most scaling.max_agents (2) (was '5')");
        Path busy = Files.writeString(dir.resolve("busy.yaml"), "scaling:\n  target_utilization: 5\n");
        assertThatThrownBy(() -> Config.load(Optional.of(busy), Map.of(), Map.of()))
                .hasMessage("config key 'scaling.target_utilization' is invalid: must be more than 0 and at most 1 "
                        + "(was '5')");
        Path full = Files.writeString(dir.resolve("full.yaml"), "scaling:\n  target_utilization: 1\n  min_agents: 3\n"
                + "  max_agents: 3\n");
        assertThat(Config.load(Optional.of(full), Map.of(), Map.of()).get(Config.SCALING_UTILIZATION)).isEqualTo(1.0);
    }

    /** Regression: a malformed file was reported over many lines, quoting the file, its JWT secret included. */
    @Test
    void aMalformedFile_isReportedOnOneLineWithWhere_withoutQuotingTheFile() throws Exception {
        Path indented = Files.writeString(dir.resolve("indented.yaml"),
                "auth:\n  jwt_secret: s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t\n bad: [\n");
        assertThatThrownBy(() -> Config.load(Optional.of(indented), Map.of(), Map.of()))
                .hasMessage("cannot read config file " + indented + ": line 3, column 2: expected <block end>, "
                        + "but found '<block mapping start>'");
        Path tab = Files.writeString(dir.resolve("tab.yaml"), "auth:\n\tjwt_secret: s3cr3t-s3cr3t-s3cr3t-s3cr3t\n");
        assertThatThrownBy(() -> Config.load(Optional.of(tab), Map.of(), Map.of()))
                .hasMessageStartingWith("cannot read config file " + tab + ": line 2, column 1: found character")
                .hasMessageNotContaining("s3cr3t").hasMessageNotContaining("\n");
        Path nan = Files.writeString(dir.resolve("nan.yaml"), "auth: {jwt_secret: s3cr3t-s3cr3t}\nscaling: {scaling_factor: .nan}\n");
        assertThatThrownBy(() -> Config.load(Optional.of(nan), Map.of(), Map.of()))
                .hasMessageStartingWith("cannot read config file " + nan + ": line 2")
                .hasMessageNotContaining("s3cr3t").hasMessageNotContaining("\n");
        Path binary = Files.write(dir.resolve("binary.yaml"), new byte[] {'a', ':', ' ', (byte) 0xff, '\n'});
        assertThatThrownBy(() -> Config.load(Optional.of(binary), Map.of(), Map.of()))
                .hasMessageStartingWith("cannot read config file " + binary + ": ").hasMessageNotContaining("\n");
    }

    /** Regression: a section with only comments under it was refused as an unknown key. */
    @Test
    void aSectionOfCommentsOnly_setsNothing() throws Exception {
        Path file = Files.writeString(dir.resolve("commented.yaml"), """
                server:
                  # port: 9000
                limits:
                  rate_limit_per_minute: 50
                """);

        Config config = Config.load(Optional.of(file), Map.of(), Map.of());

        assertThat(config.get(Config.PORT)).isEqualTo(8080);
        assertThat(config.get(Config.RATE_LIMIT)).isEqualTo(50);
    }

    @Test
    void maxReceiveBytes_belowTheMessageLimit_isRefused_whileUnsetItRisesToMeetIt() throws Exception {
        assertThat(Main.busConfig(Config.load(Optional.empty(), Map.of(), Map.of())).maxReceiveBytes())
                .isEqualTo(8 << 20);
        Path small = Files.writeString(dir.resolve("small.yaml"), "messaging:\n  max_receive_bytes: 1048575\n");
        assertThatThrownBy(() -> Config.load(Optional.of(small), Map.of(), Map.of()))
                .hasMessage("config key 'messaging.max_receive_bytes' is invalid: must be at least "
                        + "messaging.max_message_bytes (1048576), so that any message can be received (was '1048575')");
        Path large = Files.writeString(dir.resolve("large.yaml"), "messaging:\n  max_message_bytes: 16777216\n");
        assertThat(Config.load(Optional.of(large), Map.of(), Map.of()).get(Config.MAX_RECEIVE_BYTES))
                .isEqualTo(16 << 20);
    }

    /** Keeps docs/config.md generated from the declarations; -Dconfig.doc.write=true rewrites it. */
    @Test
    void docsConfigMd_matchesTheDeclarations() throws Exception {
        Path doc = Path.of("..", "docs", "config.md");
        if (Boolean.getBoolean("config.doc.write")) {
            Files.writeString(doc, Config.markdown());
        }
        assertThat(Files.readString(doc))
                .as("docs/config.md is stale: run ./mvnw -pl server test -Dtest=ConfigTest -Dconfig.doc.write=true")
                .isEqualTo(Config.markdown());
    }

    @Test
    void historyMemory_isTheSetting_butAtMostHalfTheJvmsDirectMemory() {
        Config defaults = Config.load(Optional.empty(), Map.of(), Map.of());
        Config small = Config.load(Optional.empty(), Map.of(), Map.of("messaging.history_max_megabytes", "64"));

        assertThat(Main.historyMaxBytes(defaults, 8L << 30)).isEqualTo(1L << 30);
        assertThat(Main.historyMaxBytes(defaults, 512L << 20)).isEqualTo(256L << 20);
        assertThat(Main.historyMaxBytes(small, 8L << 30)).isEqualTo(64L << 20);
        assertThat(Main.directMemoryLimit()).isPositive();
    }
}
