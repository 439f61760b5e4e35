package io.swarmbus.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.swarmbus.messaging.BusConfig;
import io.swarmbus.messaging.MessageBus;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MainTest {
    @TempDir
    Path dir;

    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    private final ByteArrayOutputStream errors = new ByteArrayOutputStream();

    private int run(String... args) {
        bytes.reset();
        errors.reset();
        return new Main(new PrintStream(bytes, true, StandardCharsets.UTF_8),
                new PrintStream(errors, true, StandardCharsets.UTF_8)).run(args);
    }

    private String output() {
        return bytes.toString(StandardCharsets.UTF_8);
    }

    private String errorOutput() {
        return errors.toString(StandardCharsets.UTF_8);
    }

    @Test
    void serve_refusesAnRs256ConfigWithoutAKey_andAKeyWithoutRs256() throws Exception {
        Path rs256 = java.nio.file.Files.writeString(dir.resolve("rs256.yaml"), "auth:\n  jwt_algorithm: RS256\n");
        Path keyOnly = java.nio.file.Files.writeString(dir.resolve("key.yaml"),
                "auth:\n  jwt_secret: 0123456789abcdef0123456789abcdef-x\n  jwt_private_key_file: jwt.pem\n");

        assertThat(run("serve", "--config", rs256.toString(), "--data-dir", dir.resolve("a").toString(),
                "--port", "0")).isEqualTo(2);
        assertThat(errorOutput()).contains("RS256 but auth.jwt_private_key_file");
        assertThat(run("serve", "--config", keyOnly.toString(), "--data-dir", dir.resolve("b").toString(),
                "--port", "0")).isEqualTo(2);
        assertThat(errorOutput()).contains("set JWT_ALGORITHM=RS256");
    }

    @Test
    void serve_refusesKafkaBrokers_whileStorageOnKafkaIsNotInThisRelease() throws Exception {
        Path agentSched = java.nio.file.Files.writeString(dir.resolve("agentsched.yaml"), """
                kafka:
                  bootstrap_servers:
                    - "localhost:9092"
                  topics:
                    - "agent_messages"
                """);
        assertThat(run("serve", "--dev", "--config", agentSched.toString(), "--data-dir", dir.resolve("a").toString(),
                "--port", "0")).isEqualTo(2);
        assertThat(errorOutput()).contains("kafka.bootstrap_servers (KAFKA_BOOTSTRAP_SERVERS) is set to localhost:9092",
                "storage on Kafka is not in this release");
        assertThat(dir.resolve("a")).as("nothing was stored").doesNotExist();
    }

    @Test
    void serve_refusesAnUnknownOption_ratherThanStartOnTheDefaultPort() {
        assertThat(run("serve", "--dev", "--prot", "18124", "--data-dir", dir.toString())).isEqualTo(2);
        assertThat(errorOutput()).contains("unknown option --prot").contains("--port");
    }

    /** Regression: Javalin called every failure to bind "Port already in use", with a stack trace. */
    @Test
    void serve_onAHostItCannotListenOn_saysWhyInOneLine_andKeepsNoAdminItNeverShowed() {
        assertThat(run("serve", "--dev", "--host", "999.1.1.1", "--port", "0", "--data-dir", dir.toString()))
                .isEqualTo(1);
        assertThat(errorOutput()).isEqualTo("swarmbus: cannot listen on 999.1.1.1:0: the host is not an IP "
                + "address or a name that resolves\n");
        // 192.0.2.1 is reserved for documentation (RFC 5737): no machine has it.
        assertThat(run("serve", "--dev", "--host", "192.0.2.1", "--port", "0", "--data-dir", dir.toString()))
                .isEqualTo(1);
        assertThat(errorOutput()).isEqualTo("swarmbus: cannot listen on 192.0.2.1:0: Cannot assign requested address\n");
        assertThat(AccessStore.open(dir).hasUsers()).as("the generated admin, never shown, is not kept").isFalse();
    }

    /** Regression: when the gateway's port was taken, the main port, already bound, stayed open. */
    @Test
    void serve_whoseLlmPortIsTaken_releasesItsMainPort() throws Exception {
        int main;
        try (ServerSocket probe = new ServerSocket(0)) {
            main = probe.getLocalPort();
        }
        try (ServerSocket taken = new ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress())) {
            assertThat(run("serve", "--dev", "--port", String.valueOf(main), "--llm-port",
                    String.valueOf(taken.getLocalPort()), "--data-dir", dir.toString())).isEqualTo(1);
            assertThat(errorOutput()).startsWith("swarmbus: cannot listen on 127.0.0.1:" + taken.getLocalPort() + ": ");
        }
        try (ServerSocket again = new ServerSocket(main, 50, java.net.InetAddress.getLoopbackAddress())) {
            assertThat(again.getLocalPort()).as("the main port is free again").isEqualTo(main);
        }
    }

    /** Regression: {@code --dev false} switched dev mode on, as only the flag's presence was read. */
    @Test
    void serve_takesDevAsAFlag_andRefusesAValueAfterIt() {
        assertThat(run("serve", "--dev", "false", "--data-dir", dir.toString())).isEqualTo(2);
        assertThat(errorOutput()).isEqualTo("swarmbus: unexpected argument 'false'; --dev is a flag and takes no value\n");
        assertThat(dir.resolve("journal")).as("nothing was stored").doesNotExist();
    }

    /**
     * Regression: the client's flags were read by their presence only, so {@code user add --admin
     * false} created an admin, and {@code --json false}, {@code --ack false} and {@code --broadcast
     * false} did what the flag does.
     */
    @Test
    void clientFlags_refuseAValueAfterThem() {
        String[][] commands = {
                {"user", "add", "--username", "carol", "--password", "carol-pw", "--admin", "false"},
                {"agent", "list", "--json", "false"},
                {"agent", "list", "--available", "no"},
                {"receive", "--agent", "writer", "--ack", "false"},
                {"send", "--content", "1", "--broadcast", "false"}};
        for (String[] command : commands) {
            String flag = command[command.length - 2];
            assertThat(run(with(new String[] {"--server", "http://127.0.0.1:1", "--token", "t"}, command)))
                    .as(String.join(" ", command)).isEqualTo(2);
            assertThat(errorOutput()).isEqualTo("swarmbus: unexpected argument '" + command[command.length - 1]
                    + "'; " + flag + " is a flag and takes no value\n");
        }
    }

    /**
     * Regression: an option left without its value was taken as "true" (an agent described as
     * "true"), and a value of "true" as no value at all, so {@code --content true} could not be sent.
     */
    @Test
    void anOptionWithoutItsValue_isRefused_andTrueIsAValueLikeAnyOther() throws Exception {
        assertThat(run("agent", "register", "--id", "w", "--description", "--server", "http://127.0.0.1:1")).isEqualTo(2);
        assertThat(errorOutput()).isEqualTo("swarmbus: --description needs a value (--description=<value> for one "
                + "that starts with --)\n");
        assertThat(run("send", "--server", "http://127.0.0.1:1", "--to", "w", "--content")).isEqualTo(2);
        assertThat(errorOutput()).startsWith("swarmbus: --content needs a value");

        asPlanner(auth -> {
            assertThat(run(with(auth, "agent", "register", "--id", "true"))).as(errorOutput()).isZero();
            assertThat(run(with(auth, "send", "--from", "true", "--to", "true", "--content", "true"))).isZero();
            assertThat(run(with(auth, "receive", "--agent", "true", "--json"))).isZero();
            assertThat(RequestBody.MAPPER.readTree(output()).at("/messages/0/content").isBoolean()).isTrue();
        });
    }

    /** Regression: a value that starts with "--" could not be given at all. */
    @Test
    void anOptionsValue_mayFollowAnEqualsSign_evenOneThatStartsWithTwoDashes() throws Exception {
        assertThat(run("receive", "--agent", "w", "--json=true", "--server", "http://127.0.0.1:1")).isEqualTo(2);
        assertThat(errorOutput()).isEqualTo("swarmbus: --json is a flag and takes no value\n");
        try (MessageBus bus = MessageBus.open(BusConfig.builder(dir).build());
                HttpServer server = HttpServer.start(bus, ServerSettings.forTests(dir))) {
            String url = "http://127.0.0.1:" + server.port();
            assertThat(run("token", "--server=" + url, "--username", "planner", "--password=--dashes-pw")).isZero();
            String[] auth = {"--server", url, "--token", output().trim()};
            assertThat(run(with(auth, "agent", "register", "--id=w", "--description=--- a rule ---"))).as(errorOutput())
                    .isZero();
            assertThat(run(with(auth, "send", "--to=w", "--content=--verbose", "--from", "w"))).isZero();
            assertThat(run(with(auth, "receive", "--agent", "w", "--json"))).isZero();
            assertThat(RequestBody.MAPPER.readTree(output()).at("/messages/0/content").asText()).isEqualTo("--verbose");
            assertThat(run("token", "--server", url, "--username", "planner", "--password", "--dashes-pw")).isEqualTo(2);
        }
    }

    /** Regression: {@code --content '42 apples'} sent the number 42, dropping the rest unread. */
    @Test
    void contentThatOnlyStartsAsJson_isSentWhole_asText() throws Exception {
        asPlanner(auth -> {
            assertThat(run(with(auth, "agent", "register", "--id", "w"))).isZero();
            for (String content : new String[] {"42 apples", "{\"a\":1} and more", "true story"}) {
                assertThat(run(with(auth, "send", "--from", "w", "--to", "w", "--content", content))).isZero();
                assertThat(run(with(auth, "receive", "--agent", "w", "--ack", "--json"))).isZero();
                assertThat(RequestBody.MAPPER.readTree(output()).at("/messages/0/content").asText()).isEqualTo(content);
            }
            assertThat(run(with(auth, "task", "create", "--type", "x", "--parameters", "{\"a\":1} x"))).isEqualTo(2);
            assertThat(errorOutput()).startsWith("swarmbus: --parameters must be JSON");
            // Regression: an empty value was sent as no parameters at all.
            assertThat(run(with(auth, "task", "create", "--type", "x", "--parameters", " "))).isEqualTo(2);
            assertThat(errorOutput()).startsWith("swarmbus: --parameters must be JSON").contains("was empty");
        });
    }

    /** Regression: {@code serve --help} was refused as an unknown option. */
    @Test
    void help_afterACommand_printsItsUsage() {
        assertThat(run("serve", "--help")).isZero();
        assertThat(output()).startsWith("usage: swarmbus serve [options]\n  serve     start the HTTP API")
                .contains("[--data-dir data]").doesNotContain("llm-sim");
        assertThat(run("task", "--help")).isZero();
        assertThat(output()).contains("task create", "task stats").doesNotContain("token");
        // Both wait for the run to end unless told otherwise, so their usage shows how long.
        assertThat(run("network", "execute", "--help")).isZero();
        assertThat(output()).contains("[--wait 60]");
        assertThat(run("swarm", "coordinate", "--help")).isZero();
        assertThat(output()).contains("[--wait 60]");
    }

    /** Regression: a secret from the file was refused as JWT_SECRET, a variable that was never set. */
    @Test
    void serve_withAWeakSecretInTheFile_namesTheFilesKey() throws Exception {
        Path placeholder = java.nio.file.Files.writeString(dir.resolve("placeholder.yaml"),
                "auth:\n  jwt_secret: your-secret-key-change-in-production\n");
        assertThat(run("serve", "--config", placeholder.toString(), "--data-dir", dir.resolve("a").toString(),
                "--port", "0")).isEqualTo(2);
        assertThat(errorOutput()).isEqualTo("swarmbus: auth.jwt_secret looks like a well-known example value or a "
                + "placeholder; set a random one (e.g. openssl rand -hex 32)\n");
        Path short_ = java.nio.file.Files.writeString(dir.resolve("short.yaml"), "auth:\n  jwt_secret: k3Xq9v\n");
        assertThat(run("serve", "--dev", "--config", short_.toString(), "--data-dir", dir.resolve("b").toString(),
                "--port", "0")).isEqualTo(2);
        assertThat(errorOutput()).isEqualTo("swarmbus: auth.jwt_secret must be at least 32 bytes for HS256\n");
    }

    /** Regression: an empty data directory wrote access.json and journal/ into the current one, then failed. */
    @Test
    void serve_withAnEmptyDataDirectory_isRefusedNamingTheKey() {
        assertThat(run("serve", "--dev", "--port", "0", "--data-dir", "")).isEqualTo(2);
        assertThat(errorOutput()).isEqualTo("swarmbus: config key 'storage.data_dir' (from --data-dir) is invalid: "
                + "must not be empty (was '')\n");
    }

    /** Regression: a data directory that could not be used was named by its path only, and without why. */
    @Test
    void serve_withADataDirectoryItCannotUse_namesTheSettingThePathAndWhy() throws Exception {
        Path file = java.nio.file.Files.writeString(dir.resolve("a-file"), "in the way");
        assertThat(run("serve", "--dev", "--port", "0", "--data-dir", file.toString())).isEqualTo(1);
        assertThat(errorOutput()).isEqualTo("swarmbus: storage_failure: --data-dir: cannot create data directory "
                + file + ": Not a directory\n");
        Path config = java.nio.file.Files.writeString(dir.resolve("data.yaml"), "storage:\n  data_dir: " + file + "\n");
        assertThat(run("serve", "--dev", "--port", "0", "--config", config.toString())).isEqualTo(1);
        assertThat(errorOutput()).isEqualTo("swarmbus: storage_failure: storage.data_dir: cannot create data "
                + "directory " + file + ": Not a directory\n");
    }

    /** Regression: an audit directory that could not be made said only "cannot open the audit directory: PATH". */
    @Test
    void serve_withAnAuditDirectoryItCannotMake_isRefusedNamingTheKeyAndWhy() throws Exception {
        Path file = java.nio.file.Files.writeString(dir.resolve("a-file"), "in the way");
        Path config = java.nio.file.Files.writeString(dir.resolve("audit.yaml"), "audit:\n  dir: " + file + "\n");

        assertThat(run("serve", "--dev", "--port", "0", "--config", config.toString(), "--data-dir",
                dir.resolve("data").toString())).isEqualTo(2);
        assertThat(errorOutput()).isEqualTo("swarmbus: config key 'audit.dir' is invalid: cannot make or write the "
                + "directory " + file + ": a file is in its place\n");
    }

    @Test
    void serve_refusesAGatewayPortThatIsTheMainPort() {
        assertThat(run("serve", "--dev", "--port", "18123", "--llm-port", "18123", "--data-dir",
                dir.toString())).isEqualTo(2);
        assertThat(errorOutput()).contains("llm.port (18123) must differ from server.port");
    }

    @Test
    void demo_runsEveryStrategyOverManagedAgents_andPrintsATableOfTimeAndTokens_thenDeletesItsDataDirectory()
            throws Exception {
        Set<Path> before = demoDirectories();

        assertThat(run("demo", "--replicas", "3")).as(errorOutput()).isZero();

        assertThat(demoDirectories()).as("the temporary data directory is gone").isEqualTo(before);
        String printed = output();
        for (String strategy : SwarmDemo.STRATEGIES) {
            assertThat(printed).contains("== " + strategy + " ==");
            assertThat(printed).containsPattern("(?m)^" + strategy + " +completed +\\d+ +\\d+ +[1-9]\\d* +[1-9]\\d* +[1-9]\\d*$");
        }
        assertThat(printed).contains("managed pool 'analyst': 3 replicas", "joined swarm", "leader analyst-1 split it");
        assertThat(run("demo", "--replicas", "0")).isEqualTo(2);
        assertThat(errorOutput()).contains("--replicas must be 1 to 16");
    }

    private static Set<Path> demoDirectories() throws java.io.IOException {
        try (var listed = java.nio.file.Files.list(Path.of(System.getProperty("java.io.tmpdir")))) {
            return listed.filter(p -> p.getFileName().toString().startsWith("swarmbus-demo-"))
                    .collect(java.util.stream.Collectors.toSet());
        }
    }

    @Test
    void demoMessaging_runsTwice_andTheSecondRunRecoversTheFirst() {
        assertThat(run("demo", "--messaging", "--data-dir", dir.toString())).isZero();
        assertThat(output()).contains("inbox planner    created", "acked", "duplicate=true");

        assertThat(run("demo", "--messaging", "--data-dir", dir.toString())).isZero();
        assertThat(output()).contains("inbox planner    recovered", "recovered ");
    }

    @Test
    void clientCommands_talkToARunningServer() {
        try (MessageBus bus = MessageBus.open(BusConfig.builder(dir).build());
                HttpServer server = HttpServer.start(bus, ServerSettings.forTests(dir))) {
            String url = "http://127.0.0.1:" + server.port();

            assertThat(run("token", "--server", url, "--username", "planner", "--password", "planner-pw")).isZero();
            String token = output().trim();
            String[] auth = {"--server", url, "--token", token};

            assertThat(run(with(auth, "agent", "register", "--id", "planner"))).isZero();
            assertThat(output()).contains("registered planner");
            assertThat(run(with(auth, "agent", "register", "--id", "writer", "--role", "worker", "--capabilities",
                    "writing,editing", "--max-tasks", "3"))).isZero();
            assertThat(output()).contains("registered writer (worker, capabilities [\"editing\",\"writing\"])");
            assertThat(run(with(auth, "agent", "heartbeat", "--id", "writer", "--status", "idle"))).isZero();
            assertThat(output()).contains("writer idle");
            assertThat(run(with(auth, "agent", "list", "--capabilities", "writing", "--available"))).isZero();
            assertThat(output()).contains("1 agent(s)", "writer", "idle", "load 0/3");
            assertThat(run(with(auth, "send", "--from", "planner", "--to", "writer", "--content", "{\"x\":1}",
                    "--priority", "critical"))).isZero();
            assertThat(output()).startsWith("sent ");
            assertThat(run(with(auth, "group", "create", "--name", "team", "--members", "writer"))).isZero();
            assertThat(run(with(auth, "group", "send", "--name", "team", "--from", "planner", "--content", "hi")))
                    .isZero();
            assertThat(run(with(auth, "topic", "subscribe", "--topic", "news", "--agent", "writer"))).isZero();
            assertThat(run(with(auth, "topic", "publish", "--topic", "news", "--from", "planner", "--content", "1")))
                    .isZero();

            assertThat(run(with(auth, "receive", "--agent", "writer", "--ack"))).isZero();
            assertThat(output()).contains("3 message(s) for writer", "critical", "{\"x\":1}", "acked 3 message(s)");
            assertThat(run(with(auth, "receive", "--agent", "writer", "--json"))).isZero();
            assertThat(output().trim()).isEqualTo("{\"messages\":[],\"count\":0}");
            assertThat(run(with(auth, "agent", "list"))).isZero();
            assertThat(output()).contains("2 agent(s)", "writer");
            assertThat(run(with(auth, "task", "create", "--type", "edit", "--capabilities", "editing",
                    "--parameters", "{\"doc\":\"a.md\"}", "--priority", "high", "--retries", "1"))).isZero();
            assertThat(output()).contains("edit  assigned on writer  attempts 1");
            String taskId = output().trim().split("\\s+")[0];
            assertThat(run(with(auth, "task", "list", "--status", "assigned"))).isZero();
            assertThat(output()).contains("1 task(s)", taskId);
            assertThat(run(with(auth, "task", "cancel", "--id", taskId, "--reason", "not needed"))).isZero();
            assertThat(output()).contains("cancelled", "error: not needed");
            assertThat(run(with(auth, "task", "stats"))).isZero();
            assertThat(output()).contains("1 task(s)");
            assertThat(run(with(auth, "task", "create", "--type", "x", "--parameters", "{oops"))).isEqualTo(2);
            assertThat(run(with(auth, "history", "--agent", "writer"))).isZero();
            assertThat(output()).contains("5 message(s)", "task_request", "task_cancel");

            assertThat(run(with(auth, "send", "--to", "ghost", "--from", "planner", "--content", "1"))).isEqualTo(1);
            assertThat(errorOutput()).isEqualTo("swarmbus: not_found (404): agent 'ghost' not found\n");
        }
    }

    @Test
    void clientCommands_addUsersAndMembers_ackOne_deleteAnAgent_andTakeTheServerAndTokenFromTheEnvironment()
            throws Exception {
        try (MessageBus bus = MessageBus.open(BusConfig.builder(dir).build());
                HttpServer server = HttpServer.start(bus, ServerSettings.forTests(dir))) {
            String url = "http://127.0.0.1:" + server.port();
            assertThat(run("token", "--server", url, "--username", "admin", "--password", "admin-password-for-tests"))
                    .isZero();
            String admin = output().trim();
            assertThat(run("user", "add", "--server", url, "--token", admin, "--username", "carol", "--password",
                    "carol-password"))
                    .isZero();
            assertThat(output()).contains("created user carol");
            assertThat(run("token", "--server", url, "--username", "carol", "--password", "carol-password")).isZero();
            String[] carol = {"--server", url, "--token", output().trim()};

            assertThat(run(with(carol, "agent", "register", "--id", "c1"))).isZero();
            assertThat(run(with(carol, "agent", "register", "--id", "c2"))).isZero();
            assertThat(run(with(carol, "group", "create", "--name", "pair", "--members", "c1"))).isZero();
            assertThat(run(with(carol, "group", "add", "--name", "pair", "--agent", "c2"))).isZero();
            assertThat(output()).contains("group pair = [\"c1\",\"c2\"]");
            assertThat(run(with(carol, "send", "--from", "c1", "--to", "c2", "--content", "1"))).isZero();
            assertThat(run(with(carol, "receive", "--agent", "c2", "--json"))).isZero();
            String id = RequestBody.MAPPER.readTree(output()).at("/messages/0/id").asText();
            assertThat(run(with(carol, "ack", "--agent", "c2", "--id", id))).isZero();
            assertThat(output()).contains("acked 1, not held 0");
            assertThat(run(with(carol, "receive", "--agent", "c2", "--max", "many"))).isEqualTo(2);
            assertThat(errorOutput()).isEqualTo("swarmbus: --max must be a whole number, was 'many'\n");
            assertThat(run(with(carol, "agent", "delete", "--id", "c1"))).isZero();
            assertThat(output()).contains("deleted c1");

            ByteArrayOutputStream listed = new ByteArrayOutputStream();
            new Cli(new PrintStream(listed, true, StandardCharsets.UTF_8),
                    java.util.Map.of("SWARMBUS_SERVER", url, "SWARMBUS_TOKEN", carol[3])).run("agent list", java.util.Map.of());
            assertThat(listed.toString(StandardCharsets.UTF_8)).contains("1 agent(s)", "c2").doesNotContain("c1 ");
        }
    }

    /**
     * Regression: every call gave up after 120 s, so {@code receive --wait 300} failed after two
     * minutes (and what the server leased it meanwhile came back only when the lease ran out).
     */
    @Test
    void receive_waitsLongerThanTheCallTimeout_whenAskedTo() {
        try (MessageBus bus = MessageBus.open(BusConfig.builder(dir).build());
                HttpServer server = HttpServer.start(bus, ServerSettings.forTests(dir))) {
            String url = "http://127.0.0.1:" + server.port();
            assertThat(run("token", "--server", url, "--username", "planner", "--password", "planner-pw")).isZero();
            Map<String, String> env = Map.of("SWARMBUS_SERVER", url, "SWARMBUS_TOKEN", output().trim());
            ByteArrayOutputStream printed = new ByteArrayOutputStream();
            Cli cli = new Cli(new PrintStream(printed, true, StandardCharsets.UTF_8), env, Duration.ofSeconds(1));
            cli.run("agent register", Map.of("id", "planner"));

            cli.run("receive", Map.of("agent", "planner", "wait", "2")); // a call timeout of 1 s, and 2 s of waiting

            assertThat(printed.toString(StandardCharsets.UTF_8)).contains("0 message(s) for planner");

            // A consensus waits for its coordination up to --timeout: 2 s here, a coordination no one works on.
            cli.run("swarm join", new java.util.HashMap<>(Map.of("role", "monitor", "capability", "x", "agent", "planner")));
            cli.run("swarm coordinate", new java.util.HashMap<>(Map.of("task-id", "q1", "objective", "x", "wait", "0")));
            assertThatThrownBy(() -> cli.run("swarm consensus", Map.of("task-id", "q1", "timeout", "2")))
                    .hasMessageContaining("still running");
        }
    }

    /**
     * Regression: {@code --members a,,b} sent an empty agent id (refused by the server), and
     * {@code --members ,} created a group of no one, where {@code --capabilities} drops blank items.
     */
    @Test
    void groupCreate_dropsBlankMembers_andRefusesNone() throws Exception {
        assertThat(run("group", "create", "--server", "http://127.0.0.1:1", "--name", "g", "--members", " , ")).isEqualTo(2);
        assertThat(errorOutput()).isEqualTo("swarmbus: --members names no agent\n");
        asPlanner(auth -> {
            assertThat(run(with(auth, "agent", "register", "--id", "a"))).isZero();
            assertThat(run(with(auth, "agent", "register", "--id", "b"))).isZero();
            assertThat(run(with(auth, "group", "create", "--name", "g", "--members", "a,,b,"))).as(errorOutput()).isZero();
            assertThat(output()).contains("created group g [\"a\",\"b\"]");
        });
    }

    /** Regression: {@code network create --agents a,b,} sent an empty agent id, which the server refused. */
    @Test
    void networkCreate_dropsBlankAgents_andRefusesNone() throws Exception {
        assertThat(run("network", "create", "--server", "http://127.0.0.1:1", "--name", "n", "--agents", " , "))
                .isEqualTo(2);
        assertThat(errorOutput()).isEqualTo("swarmbus: --agents names no agent\n");
        asPlanner(auth -> {
            assertThat(run(with(auth, "agent", "register", "--id", "a"))).isZero();
            assertThat(run(with(auth, "agent", "register", "--id", "b"))).isZero();
            assertThat(run(with(auth, "network", "create", "--name", "n", "--agents", "a, b,"))).as(errorOutput())
                    .isZero();
            assertThat(output()).contains("agents [\"a\",\"b\"]");
        });
    }

    /** Regression: an empty {@code --id} asked for {@code /networks//status}, and the server's 404 named that path. */
    @Test
    void networkCommands_withAnEmptyId_areRefusedAsBadUsage() throws Exception {
        asPlanner(auth -> {
            for (String[] command : new String[][] {{"network", "status"}, {"network", "optimize"},
                    {"network", "execute", "--objective", "x"}}) {
                String[] args = with(new String[] {"--id", ""}, command);
                assertThat(run(with(auth, args))).as(String.join(" ", command)).isEqualTo(2);
                assertThat(errorOutput()).isEqualTo("swarmbus: missing --id (it is empty)\n");
            }
        });
    }

    /** Regression: {@code network execute} with neither {@code --task} nor {@code --objective} said "missing --objective". */
    @Test
    void networkExecute_withNeitherTaskNorObjective_namesBoth() throws Exception {
        asPlanner(auth -> {
            assertThat(run(with(auth, "network", "execute", "--id", "n"))).isEqualTo(2);
            assertThat(errorOutput()).isEqualTo("swarmbus: give --task or --objective\n");
        });
    }

    /** Regression: acking a message the agent held no lease on exited 0, as if it were acked. */
    @Test
    void ack_ofAMessageNotHeld_exitsWithOne_sayingWhy() throws Exception {
        asPlanner(auth -> {
            assertThat(run(with(auth, "agent", "register", "--id", "planner"))).isZero();
            assertThat(run(with(auth, "send", "--to", "planner", "--content", "1", "--json"))).isZero();
            String id = RequestBody.MAPPER.readTree(output()).path("message_id").asText();

            assertThat(run(with(auth, "ack", "--agent", "planner", "--id", id))).isEqualTo(1);
            assertThat(errorOutput()).isEqualTo("swarmbus: message " + id + " was not acked: planner holds no lease "
                    + "on it (it was not received, or was acked already, or its lease ran out)\n");

            assertThat(run(with(auth, "receive", "--agent", "planner"))).isZero();
            assertThat(run(with(auth, "ack", "--agent", "planner", "--id", id))).isZero();
            assertThat(output()).contains("acked 1, not held 0");
        });
    }

    /**
     * Regression: a token with a trailing CR or newline (read from a file), or a letter past ASCII,
     * was refused as Java's "invalid header value", the token itself on stderr.
     */
    @Test
    void client_withATokenAmidWhiteSpace_stripsIt_andRefusesOneNoTokenHasWithoutShowingIt() throws Exception {
        asPlanner(auth -> {
            String token = auth[3];
            assertThat(run("agent", "list", "--server", auth[1], "--token", token + "\r\n")).as(errorOutput()).isZero();
            assertThat(output()).startsWith("0 agent(s)");

            for (String bad : new String[] {token + "\n" + token, "日本"}) {
                assertThat(run("agent", "list", "--server", auth[1], "--token", bad)).isEqualTo(2);
                assertThat(errorOutput()).isEqualTo("swarmbus: --token holds a character no token has (a space, a "
                        + "line break, a letter past ASCII); give the token alone\n");
            }
        });
    }

    /** Regression: a role past 12 characters or an id past 24 pushed the rest of its line out of line. */
    @Test
    void agentListAndReceive_withLongIdsAndRoles_keepTheirColumnsInLine() throws Exception {
        asPlanner(auth -> {
            String longId = "an-agent-with-a-rather-long-id";
            assertThat(run(with(auth, "agent", "register", "--id", "a", "--role", "load-balancer"))).isZero();
            assertThat(run(with(auth, "agent", "register", "--id", longId))).isZero();
            assertThat(run(with(auth, "agent", "list"))).isZero();
            assertThat(columnOf(output(), " load ")).as(output()).hasSize(1);

            assertThat(run(with(auth, "send", "--from", longId, "--to", "a", "--content", "1"))).isZero();
            assertThat(run(with(auth, "send", "--from", "a", "--to", "a", "--content", "2", "--type", "a_long_message_type")))
                    .isZero();
            assertThat(run(with(auth, "receive", "--agent", "a"))).isZero();
            assertThat(columnOf(output(), " medium ")).as(output()).hasSize(1);
            assertThat(columnOf(output(), " attempt ")).as(output()).hasSize(1);
        });
    }

    /** The columns at which {@code word} stands in the lines after the first. */
    private static java.util.Set<Integer> columnOf(String text, String word) {
        return text.lines().skip(1).map(line -> line.indexOf(word)).collect(java.util.stream.Collectors.toSet());
    }

    @Test
    void client_withTheServerDown_saysSoInOneLine() throws Exception {
        int port;
        try (ServerSocket socket = new ServerSocket(0)) {
            port = socket.getLocalPort();
        }
        assertThat(run("agent", "list", "--server", "http://127.0.0.1:" + port, "--token", "x")).isEqualTo(1);
        assertThat(errorOutput()).isEqualTo("swarmbus: cannot reach the server at http://127.0.0.1:" + port
                + " (is `swarmbus serve` running?)\n");
    }

    /** A server that is not Swarmbus, answering every request with {@code status} and no body. */
    private static com.sun.net.httpserver.HttpServer notSwarmbus(int status) {
        return standIn(exchange -> {
            exchange.sendResponseHeaders(status, -1);
            exchange.close();
        });
    }

    /** A stand-in server on a free loopback port, answering every request with {@code handler}. */
    private static com.sun.net.httpserver.HttpServer standIn(com.sun.net.httpserver.HttpHandler handler) {
        com.sun.net.httpserver.HttpServer server;
        try {
            server = com.sun.net.httpserver.HttpServer.create(new java.net.InetSocketAddress("127.0.0.1", 0), 0);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        server.createContext("/", handler);
        server.start();
        return server;
    }

    /** Regression: an empty 404 from something that is not Swarmbus was printed as "error (404): ". */
    @Test
    void client_answeredByAnotherServer_saysSoInOneLine() {
        com.sun.net.httpserver.HttpServer other = notSwarmbus(404);
        try {
            String url = "http://127.0.0.1:" + other.getAddress().getPort();
            assertThat(run("agent", "list", "--server", url, "--token", "t")).isEqualTo(1);
            assertThat(errorOutput()).isEqualTo("swarmbus: the server at " + url + " answered 404 with no Swarmbus "
                    + "error (is it a Swarmbus server?)\n");
            assertThat(run("agent", "list", "--server", url + "/", "--token", "t")).isEqualTo(1);
        } finally {
            other.stop(0);
        }
    }

    /** Regression: an empty 200 from something that is not Swarmbus was read as an empty answer: "0 agent(s)", exit 0. */
    @Test
    void client_answeredWithAnEmptyOk_saysSoInOneLine_andExitsWithOne() {
        com.sun.net.httpserver.HttpServer other = notSwarmbus(200);
        try {
            String url = "http://127.0.0.1:" + other.getAddress().getPort();
            assertThat(run("agent", "list", "--server", url, "--token", "t")).isEqualTo(1);
            assertThat(output()).isEmpty();
            assertThat(errorOutput()).isEqualTo("swarmbus: the server at " + url + " answered 200 with nothing "
                    + "(is it a Swarmbus server?)\n");
        } finally {
            other.stop(0);
        }
    }

    /**
     * Regression: {@code receive --ack} printed "acked 0 message(s)" and exited 0 when the leases
     * had run out before the ack, though the messages will be delivered again. The stand-in
     * answers as the server does then: the receive's message, and an ack that held none.
     */
    @Test
    void receiveWithAck_whoseLeasesRanOut_namesTheMessagesNotAcked_andExitsWithOne() {
        com.sun.net.httpserver.HttpServer leasesRanOut = standIn(exchange -> {
            String body = exchange.getRequestURI().getPath().endsWith("/receive")
                    ? "{\"count\":1,\"messages\":[{\"id\":\"m-1\",\"from\":\"a\",\"type\":\"chat\",\"priority\":\"normal\","
                            + "\"attempt\":1,\"content\":\"hi\"}]}"
                    : "{\"acked\":[],\"not_held\":[\"m-1\"]}";
            byte[] bytes = body.getBytes(java.nio.charset.StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", "application/json");
            exchange.sendResponseHeaders(200, bytes.length);
            exchange.getResponseBody().write(bytes);
            exchange.close();
        });
        try {
            String url = "http://127.0.0.1:" + leasesRanOut.getAddress().getPort();
            assertThat(run("receive", "--agent", "w", "--ack", "--server", url, "--token", "t")).isEqualTo(1);
            assertThat(output()).contains("acked 0 message(s)");
            assertThat(errorOutput()).isEqualTo("swarmbus: 1 message(s) not acked, w no longer holding their leases "
                    + "(they will be delivered again): m-1\n");
        } finally {
            leasesRanOut.stop(0);
        }
    }

    @Test
    void managedScale_withNoSize_isBadUsage() throws Exception {
        asPlanner(auth -> {
            assertThat(run(with(auth, "managed", "scale", "--name", "pool"))).isEqualTo(2);
            assertThat(errorOutput()).isEqualTo("swarmbus: managed scale needs --replicas, --min or --max\n");
        });
    }

    @Test
    void client_withAServerThatIsNotAUrl_saysSo() {
        assertThat(run("agent", "list", "--server", "not-a-url", "--token", "x")).isEqualTo(2);
        assertThat(errorOutput()).isEqualTo("swarmbus: --server must be a URL like http://127.0.0.1:8080, was 'not-a-url'\n");
        // Regression: a query was kept, the API's paths put after it; a port out of range was Java's own message.
        for (String url : java.util.List.of("http://127.0.0.1:8080/?x=1", "http://127.0.0.1:8080#top", "http://127.0.0.1:99999",
                "http://127.0.0.1:0", "http://exa mple")) {
            assertThat(run("agent", "list", "--server", url, "--token", "x")).as(url).isEqualTo(2);
            assertThat(errorOutput()).as(url).isEqualTo("swarmbus: --server must be a URL like http://127.0.0.1:8080, "
                    + "was '" + url + "'\n");
        }
    }

    /** Regression: a $SWARMBUS_SERVER that is not a URL was blamed on --server, which was not given. */
    @Test
    void client_withAServerFromTheEnvironmentThatIsNotAUrl_namesTheVariable() {
        Cli cli = new Cli(new PrintStream(bytes, true, StandardCharsets.UTF_8), Map.of("SWARMBUS_SERVER", "localhost:8080"));
        assertThatThrownBy(() -> cli.run("agent list", new java.util.HashMap<>(Map.of("token", "x"))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("$SWARMBUS_SERVER must be a URL like http://127.0.0.1:8080, was 'localhost:8080'");
    }

    @Test
    void badUsage_exitsWithTwo() {
        assertThat(run()).isEqualTo(2);
        assertThat(output()).as("bad usage: the usage goes to stderr, as other usage errors do").isEmpty();
        assertThat(errorOutput()).startsWith("usage: swarmbus");
        assertThat(run("send", "--server", "http://127.0.0.1:1", "--content", "1", "--to")).isEqualTo(2);
        assertThat(run("frobnicate")).isEqualTo(2);
        assertThat(errorOutput()).contains("unknown command 'frobnicate'");
        assertThat(run("send", "stray")).isEqualTo(2);
        assertThat(errorOutput()).contains("unexpected argument 'stray'");
        assertThat(run("serve", "--data-dir", dir.toString(), "--port", "eighty")).isEqualTo(2);
        assertThat(errorOutput()).contains("config key 'server.port' (from --port) is invalid");
        // Nothing below reaches a server: each is refused before any call.
        assertThat(run("send", "--server", "http://127.0.0.1:1", "--to", "w", "--content", "7", "--priorty", "high"))
                .isEqualTo(2);
        assertThat(errorOutput()).contains("'send' takes no --priorty; it takes ").contains("--priority");
        assertThat(run("agent", "register", "--server", "http://127.0.0.1:1", "--id", "w", "--capabilites", "x"))
                .isEqualTo(2);
        assertThat(errorOutput()).contains("'agent register' takes no --capabilites");
        assertThat(run("send", "--server", "http://127.0.0.1:1", "--to", "a", "--content", "1", "--to", "b")).isEqualTo(2);
        assertThat(errorOutput()).contains("--to is given twice");
        assertThat(run("send", "--server", "http://127.0.0.1:1", "--to", "a", "--content", "")).isEqualTo(2);
        assertThat(errorOutput()).contains("missing --content (it is empty)");
        assertThat(run("agent")).isEqualTo(2);
        assertThat(errorOutput()).contains("'agent' needs one of: register, list, heartbeat, delete");
        // Regression: history sent --limit into the query as given, so "5&agent=w" added a filter.
        assertThat(run("history", "--server", "http://127.0.0.1:1", "--limit", "5&agent=w")).isEqualTo(2);
        assertThat(errorOutput()).isEqualTo("swarmbus: --limit must be a whole number, was '5&agent=w'\n");
        assertThat(run("task", "stats", "--server", "http://127.0.0.1:1", "--limit", "3")).isEqualTo(2);
        assertThat(errorOutput()).contains("'task stats' takes no --limit\n");
        assertThat(run("network", "execute", "--server", "http://127.0.0.1:1", "--id", "n", "--task",
                dir.resolve("missing.json").toString())).isEqualTo(2);
        assertThat(errorOutput()).contains("missing.json: no such file");
        // Regression: given both, --objective was dropped without a word.
        assertThat(run("network", "execute", "--server", "http://127.0.0.1:1", "--id", "n", "--task",
                "{\"objective\":\"a\"}", "--objective", "b")).isEqualTo(2);
        assertThat(errorOutput()).isEqualTo("swarmbus: give --task or --objective, not both\n");
    }

    /** Regression: {@code --} and {@code --=x} were taken as an option named "", which "needs a value". */
    @Test
    void anArgumentNamingNoOption_isRefusedAsUnexpected() throws Exception {
        asPlanner(auth -> {
            for (String stray : new String[] {"--", "--=x"}) {
                assertThat(run(with(auth, "send", "--to", "a", "--content", "1", "--json", stray))).as(stray).isEqualTo(2);
                assertThat(errorOutput()).isEqualTo("swarmbus: unexpected argument '" + stray
                        + "'; options look like --name value\n");
            }
        });
    }

    /** Regression: a misspelt subcommand ({@code agent regster}) printed the whole usage, some 70 lines, to stderr. */
    @Test
    void aMisspeltSubcommand_namesTheSubcommandsOfItsCommand() throws Exception {
        asPlanner(auth -> {
            assertThat(run(with(auth, "agent", "regster", "--id", "a"))).isEqualTo(2);
            assertThat(errorOutput()).isEqualTo("swarmbus: 'agent' has no 'regster'; it needs one of: register, list, "
                    + "heartbeat, delete\n");
        });
    }

    @Test
    void everyClientCommand_takesTheOptionsItsUsageShows() {
        assertThat(Cli.OPTIONS).containsKeys("token", "send", "receive", "history", "agent register", "task stats",
                "network execute", "swarm coordinate", "managed scale");
        assertThat(Cli.OPTIONS.get("send")).containsExactlyInAnyOrder("to", "group", "topic", "broadcast", "content",
                "from", "type", "priority");
        assertThat(Cli.OPTIONS.get("network execute")).containsExactlyInAnyOrder("id", "task", "objective", "wait");
        assertThat(Cli.OPTIONS.get("task stats")).isEmpty();
    }

    /** What a test does against its server, given the {@code --server} and {@code --token} options. */
    interface WithAuth {
        void run(String[] auth) throws Exception;
    }

    /** Runs {@code test} against a fresh server, signed in as user {@code planner}. */
    void asPlanner(WithAuth test) throws Exception {
        try (MessageBus bus = MessageBus.open(BusConfig.builder(dir).build());
                HttpServer server = HttpServer.start(bus, ServerSettings.forTests(dir))) {
            String url = "http://127.0.0.1:" + server.port();
            assertThat(run("token", "--server", url, "--username", "planner", "--password", "planner-pw")).isZero();
            test.run(new String[] {"--server", url, "--token", output().trim()});
        }
    }

    private static String[] with(String[] auth, String... args) {
        String[] all = new String[args.length + auth.length];
        System.arraycopy(args, 0, all, 0, args.length);
        System.arraycopy(auth, 0, all, args.length, auth.length);
        return all;
    }
}
