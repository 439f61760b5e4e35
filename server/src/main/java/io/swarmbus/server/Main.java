package io.swarmbus.server;

import com.fasterxml.jackson.databind.JsonNode;
import io.swarmbus.SwarmbusException;
import io.swarmbus.llm.sim.SimSettings;
import io.swarmbus.messaging.Address;
import io.swarmbus.messaging.BusConfig;
import io.swarmbus.messaging.BusStats;
import io.swarmbus.messaging.DeliveryInfo;
import io.swarmbus.messaging.MessageBus;
import io.swarmbus.messaging.MessageRecord;
import io.swarmbus.storage.RecoveryReport;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * The {@code swarmbus} command line. Until the HTTP server lands it works on the embedded engine
 * directly: {@code demo} runs a small swarm conversation, {@code send}, {@code receive} and
 * {@code history} act on the data directory one command at a time.
 */
public final class Main {
    private static final String USAGE = """
            usage: swarmbus <command> [options]

            server:
              serve     start the HTTP API on embedded storage: [--port 8080] [--host 0.0.0.0]
                        [--dev] [--config FILE.yaml] [--data-dir data] [--max-request-bytes N]
                        [--llm-backend URL]... [--llm-strategy NAME] [--llm-port N];
                        a JWT secret (JWT_SECRET or auth.jwt_secret) is required without
                        --dev; every key: docs/config.md
              demo      start a server, llm-sim backends and managed LLM agents, run every swarm
                        strategy and print each step: [--replicas 4] [--data-dir DIR (default: a new
                        temporary one)]; --messaging runs a small message exchange through the
                        engine in --data-dir instead
              llm-sim   an OpenAI-compatible model simulator: [--port 8000] [--host 127.0.0.1]
                        [--model a,b] [--zero-latency] [--overhead-ms 20] [--prefill-rate 8000]
                        [--decode-rate 60] [--decode-slowdown 0.02] [--max-concurrency 64]
                        [--max-queue 0] [--cache-blocks 8192] [--block-size 16] [--output-tokens 32]
                        [--failure-rate 0] [--slow-rate 0] [--slow-factor 1] [--seed 42]

            client (talk to a running server):
            """ + Cli.USAGE + """
              help      show this text
            """;

    /** Options that are there or not, and take no value: {@code --dev false} is a mistake, not dev mode off. */
    private static final java.util.Set<String> PLAIN_FLAGS = java.util.Set.of("dev", "messaging", "zero-latency",
            "help", "json", "admin", "ack", "broadcast", "available");

    private final PrintStream out;
    private final PrintStream err;

    Main(PrintStream out, PrintStream err) {
        this.out = out;
        this.err = err;
    }

    /** Whether the log is JSON ({@code SWARMBUS_LOG_FORMAT=json}). */
    private static final boolean JSON_LOG = "json".equalsIgnoreCase(System.getenv("SWARMBUS_LOG_FORMAT"));

    /** Runs one command and exits with 0 on success, 1 on a request error, 2 on a usage error. */
    public static void main(String[] args) {
        // Chosen before the first logger exists: logback reads this once, at its start.
        if (JSON_LOG && System.getProperty("logback.configurationFile") == null) {
            System.setProperty("logback.configurationFile", "logback-json.xml");
        }
        System.exit(new Main(System.out, System.err).run(args));
    }

    int run(String[] args) {
        if (args.length == 0) { // bad usage: the usage goes where errors go
            err.print(USAGE);
            return 2;
        }
        if (args[0].equals("help") || args[0].equals("--help")) {
            out.print(USAGE);
            return 0;
        }
        String command = args[0];
        int first = 1;
        if (TWO_WORD.contains(command) && args.length > 1 && !args[1].startsWith("--")) {
            command = command + " " + args[1];
            first = 2;
        }
        Map<String, String> options;
        try {
            options = parse(args, first);
        } catch (IllegalArgumentException e) {
            err.println("swarmbus: " + e.getMessage());
            return 2;
        }
        if (options.containsKey("help") && !usageOf(command).isEmpty()) {
            out.print("usage: swarmbus " + command + " [options]\n" + usageOf(command));
            return 0;
        }
        if (command.equals("llm-sim")) {
            return llmSim(options);
        }
        if (command.equals("demo") && !options.containsKey("messaging")) {
            return swarmDemo(options);
        }
        if (!command.equals("serve") && !command.equals("demo")) {
            return client(command, options);
        }
        Config config;
        try {
            Map<String, String> serverOptions = new HashMap<>(options);
            serverOptions.remove("messaging"); // demo's choice of demo, not a server setting
            config = Config.load(Optional.ofNullable(options.get("config")).map(Path::of), System.getenv(),
                    flags(serverOptions));
            // Checked before the data directory is opened: brokers mean the operator wants the data elsewhere.
            if (!config.get(Config.KAFKA_BOOTSTRAP_SERVERS).isEmpty()) {
                throw new IllegalArgumentException("kafka.bootstrap_servers (KAFKA_BOOTSTRAP_SERVERS) is set to "
                        + config.get(Config.KAFKA_BOOTSTRAP_SERVERS) + ", but storage on Kafka is not in this release; "
                        + "unset it to run on embedded storage in the data directory");
            }
        } catch (IllegalArgumentException e) {
            serverFailed(e.getMessage());
            return 2;
        }
        Path dataDir = Path.of(config.get(Config.DATA_DIR));
        MessageBus opened;
        try {
            opened = MessageBus.open(busConfig(config));
        } catch (io.swarmbus.storage.StorageException e) {
            // The storage's message has the path and why; this says which setting to change.
            serverFailed(e.code().code() + ": " + config.origin(Config.DATA_DIR) + ": " + e.getMessage());
            return 1;
        }
        try (MessageBus bus = opened) {
            if (command.equals("serve")) {
                serve(bus, dataDir, config);
            } else {
                new Demo(bus, out).run(dataDir);
            }
            return 0;
        } catch (SwarmbusException e) {
            serverFailed(e.code().code() + ": " + e.getMessage());
            return 1;
        } catch (java.io.UncheckedIOException e) { // say, the port cannot be bound: the message says so
            serverFailed(e.getMessage());
            return 1;
        } catch (IllegalArgumentException e) {
            serverFailed(e.getMessage());
            return 2;
        }
    }

    /**
     * Why the server could not start or went down: with {@code SWARMBUS_LOG_FORMAT=json}, a JSON log
     * line at ERROR like every other line the server writes on stderr (a collector would not read
     * plain text there); otherwise one plain line.
     */
    private void serverFailed(String why) {
        if (JSON_LOG) {
            org.slf4j.LoggerFactory.getLogger(Main.class).error(why);
        } else {
            err.println("swarmbus: " + why);
        }
    }


    /** The LLM gateway's settings from the {@code llm.*}, {@code load_balancing.*} and {@code connection_pool.*} keys. */
    static io.swarmbus.llm.GatewaySettings llmSettings(Config config, Map<String, String> env) {
        int maxConcurrency = config.get(Config.CONNECTION_POOL_MAX);
        List<io.swarmbus.llm.BackendSpec> backends = new java.util.ArrayList<>();
        String text = config.get(Config.LLM_BACKENDS).trim();
        try {
            if (text.startsWith("[")) {
                for (JsonNode entry : io.swarmbus.llm.OpenAiWire.JSON.readTree(text)) {
                    backends.add(io.swarmbus.llm.BackendSpec.parse(entry, maxConcurrency, env));
                }
            } else if (!text.isEmpty()) {
                for (String url : text.split(",")) {
                    backends.add(io.swarmbus.llm.BackendSpec.ofUrl(url, maxConcurrency));
                }
            }
        } catch (java.io.IOException | IllegalArgumentException e) {
            throw new IllegalArgumentException("config key 'llm.backends' is invalid: " + e.getMessage());
        }
        Map<String, List<String>> fallbacks = fallbacks(config.get(Config.LLM_FALLBACKS).trim());
        Map<String, String> routeStrategies = routeStrategies(config.get(Config.LLM_ROUTES).trim());
        String strategy = config.get(Config.LLM_STRATEGY);
        io.swarmbus.llm.Quotas.Settings quotas = io.swarmbus.llm.Quotas.Settings.NONE;
        String limitsText = config.get(Config.LLM_LIMITS).trim();
        if (!limitsText.isEmpty()) {
            try {
                quotas = io.swarmbus.llm.Quotas.Settings.parse(io.swarmbus.llm.OpenAiWire.JSON.readTree(limitsText));
            } catch (java.io.IOException | IllegalArgumentException e) {
                throw new IllegalArgumentException("config key 'llm.limits' is invalid: " + e.getMessage());
            }
        }
        return new io.swarmbus.llm.GatewaySettings(backends, strategy, config.get(Config.LLM_MAX_QUEUE),
                Duration.ofSeconds(config.get(Config.LLM_QUEUE_TIMEOUT)),
                Duration.ofSeconds(config.get(Config.CONNECTION_POOL_TIMEOUT)), config.get(Config.LLM_RETRIES),
                fallbacks, Duration.ofSeconds(5), quotas, scaling(config),
                Path.of(config.get(Config.DATA_DIR)).resolve("llm-usage.json"), routeStrategies);
    }

    /** {@code llm.fallbacks}: a map from a model to a model, or to a list of models, tried in its place. */
    private static Map<String, List<String>> fallbacks(String text) {
        Map<String, List<String>> fallbacks = new HashMap<>();
        try {
            for (var entry : structured(text, "a map from a model to the models tried in its place, "
                    + "like {gpt-4o: [gpt-4o-mini]}").properties()) {
                JsonNode value = entry.getValue();
                List<JsonNode> models = new java.util.ArrayList<>();
                if (value.isArray() && !value.isEmpty()) {
                    value.forEach(models::add);
                } else {
                    models.add(value);
                }
                if (!models.stream().allMatch(model -> model.isTextual() && !model.asText().isBlank())) {
                    throw new IllegalArgumentException("'" + entry.getKey() + "' must map to a model or a list of "
                            + "models, was " + value);
                }
                fallbacks.put(entry.getKey(), models.stream().map(JsonNode::asText).toList());
            }
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("config key 'llm.fallbacks' is invalid: " + e.getMessage());
        }
        return fallbacks;
    }

    /** {@code llm.routes}: a map from a model to {@code {strategy: name}}. */
    private static Map<String, String> routeStrategies(String text) {
        Map<String, String> routes = new HashMap<>();
        try {
            for (var entry : structured(text, "a map from a model to {strategy: name}, "
                    + "like {sim-model: {strategy: prefix_affinity}}").properties()) {
                JsonNode value = entry.getValue();
                if (!value.isObject() || !value.path("strategy").isTextual()) {
                    throw new IllegalArgumentException("'" + entry.getKey() + "' must map to {strategy: name}, was "
                            + value);
                }
                // In any case, as llm.strategy and every other enum setting takes its value.
                String given = value.get("strategy").asText();
                String name = io.swarmbus.llm.route.Strategies.NAMES.stream().filter(given::equalsIgnoreCase)
                        .findFirst().orElse(given);
                io.swarmbus.llm.route.Strategies.check(name);
                routes.put(entry.getKey(), name);
            }
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("config key 'llm.routes' is invalid: " + e.getMessage());
        }
        return routes;
    }

    /** The JSON map a structured key holds (empty for no text); anything else is refused as not {@code expected}. */
    private static JsonNode structured(String text, String expected) {
        if (text.isEmpty()) {
            return io.swarmbus.llm.OpenAiWire.JSON.createObjectNode();
        }
        JsonNode node;
        try {
            node = io.swarmbus.llm.OpenAiWire.JSON.readTree(text);
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException("expected " + expected + ", was '" + text + "'");
        }
        if (!node.isObject()) {
            throw new IllegalArgumentException("expected " + expected + ", was " + node);
        }
        return node;
    }

    private static io.swarmbus.llm.Scaling.Settings scaling(Config config) {
        try {
            return new io.swarmbus.llm.Scaling.Settings(config.get(Config.SCALING_MIN_AGENTS),
                    config.get(Config.SCALING_MAX_AGENTS), config.get(Config.SCALING_FACTOR),
                    config.get(Config.SCALING_BACKLOG), config.get(Config.SCALING_UTILIZATION));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("config keys 'scaling.*' are invalid: " + e.getMessage());
        }
    }

    /**
     * {@code swarmbus demo}: every swarm strategy over managed agents on the model simulator, then a
     * table of time and tokens.
     */
    private int swarmDemo(Map<String, String> options) {
        try {
            int replicas = Integer.parseInt(options.getOrDefault("replicas", "4"));
            if (replicas < 1 || replicas > 16) {
                throw new IllegalArgumentException("--replicas must be 1 to 16");
            }
            if (options.containsKey("data-dir")) {
                new SwarmDemo(out).run(Path.of(options.get("data-dir")), replicas);
                return 0;
            }
            Path dir = java.nio.file.Files.createTempDirectory("swarmbus-demo-");
            try {
                new SwarmDemo(out).run(dir, replicas);
            } finally {
                deleteTree(dir); // a directory of its own making: nothing in it is the user's
            }
            return 0;
        } catch (IllegalArgumentException e) {
            err.println("swarmbus demo: " + e.getMessage());
            return 2;
        } catch (java.io.IOException | IllegalStateException e) {
            err.println("swarmbus demo: " + e.getMessage());
            return 1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 1;
        }
    }

    /** Deletes {@code dir} and everything in it, files before the directories that hold them. */
    private static void deleteTree(Path dir) throws java.io.IOException {
        try (var paths = java.nio.file.Files.walk(dir)) {
            for (Path path : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
                java.nio.file.Files.delete(path);
            }
        }
    }

    private int llmSim(Map<String, String> options) {
        Map<String, String> simOptions = new HashMap<>(options);
        String host = Optional.ofNullable(simOptions.remove("host")).orElse("127.0.0.1");
        SimSettings settings;
        int port;
        try {
            port = Integer.parseInt(Optional.ofNullable(simOptions.remove("port")).orElse("8000"));
            boolean zero = simOptions.remove("zero-latency") != null;
            settings = (zero ? SimSettings.zeroLatency() : SimSettings.defaults()).with(simOptions);
        } catch (IllegalArgumentException e) {
            err.println("swarmbus llm-sim: " + e.getMessage());
            return 2;
        }
        try (LlmSimServer sim = LlmSimServer.start(settings, host, port)) {
            out.printf("llm-sim listening on http://%s:%d/v1 serving %s%n", host, sim.port(),
                    String.join(", ", settings.models()));
            out.println("  " + settings);
            out.flush();
            new java.util.concurrent.CountDownLatch(1).await();
            return 0;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 0;
        } catch (RuntimeException e) {
            err.println("swarmbus llm-sim: cannot start on " + host + ":" + port + ": " + e.getMessage());
            return 1;
        }
    }

    /**
     * Serves until the process is told to stop (Ctrl-C or SIGTERM), then closes the server and lets
     * the caller close the bus, which flushes and snapshots.
     */
    private void serve(MessageBus bus, Path dataDir, Config config) {
        HeapSizing.keepCommitted();
        boolean dev = config.get(Config.DEV);
        ServerSettings settings = new ServerSettings(dataDir, config.get(Config.HOST), config.get(Config.PORT),
                config.get(Config.MAX_REQUEST_BYTES), dev,
                Optional.of(config.get(Config.JWT_SECRET)).filter(s -> !s.isEmpty()),
                Duration.ofMinutes(config.get(Config.TOKEN_EXPIRE_MINUTES)), config.get(Config.RATE_LIMIT),
                Optional.of(config.get(Config.ADMIN_PASSWORD)).filter(s -> !s.isEmpty()))
                .withHeartbeatTtl(Duration.ofSeconds(config.get(Config.HEARTBEAT_TTL_SECONDS)))
                .withJwtSecretName(config.origin(Config.JWT_SECRET))
                .withLlm(llmSettings(config, System.getenv()));
        if (config.get(Config.LLM_PORT) > 0 && config.get(Config.LLM_PORT).equals(config.get(Config.PORT))) {
            throw new IllegalArgumentException("llm.port (" + config.get(Config.LLM_PORT)
                    + ") must differ from server.port: it is a second port, for the OpenAI-compatible API only");
        }
        if (config.get(Config.LLM_PORT) >= 0) {
            settings = settings.withLlmPort(new ServerSettings.LlmPort(config.get(Config.LLM_PORT),
                    config.get(Config.LLM_PORT_THREADS)));
        }
        String keyFile = config.get(Config.JWT_PRIVATE_KEY_FILE);
        if (config.get(Config.JWT_ALGORITHM).equals("RS256")) {
            if (keyFile.isEmpty()) {
                throw new IllegalArgumentException("auth.jwt_algorithm is RS256 but auth.jwt_private_key_file "
                        + "(JWT_PRIVATE_KEY_FILE) is not set");
            }
            settings = settings.withJwtPrivateKey(Path.of(keyFile));
        } else if (!keyFile.isEmpty()) {
            throw new IllegalArgumentException("auth.jwt_private_key_file is set but auth.jwt_algorithm is HS256; "
                    + "set JWT_ALGORITHM=RS256 to sign with the key");
        }
        java.util.concurrent.CountDownLatch stop = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch stopped = new java.util.concurrent.CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            stop.countDown();
            try {
                stopped.await(30, java.util.concurrent.TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "swarmbus-shutdown"));
        try (AuditLog audit = audit(config);
                HttpServer server = HttpServer.start(bus, settings, audit)) {
            recordPerformance(bus, audit, Duration.ofSeconds(config.get(Config.PERFORMANCE_INTERVAL_SECONDS)), stop);
            HeapSizing.promoteStartupObjects();
            String base = "http://" + settings.host() + ":" + server.port();
            out.printf("Swarmbus listening on %s (%s mode, data in %s)%n", base, dev ? "dev" : "production",
                    dataDir.toAbsolutePath());
            String host = settings.host();
            server.llmPort().ifPresent(port -> out.printf(
                    "  LLM gateway's own port: http://%s:%d/v1 (OpenAI-compatible API only)%n", host, port));
            out.println("  " + describe(bus.recovery()));
            server.generatedAdminPassword().ifPresent(password -> out.println(
                    "  first start: created user 'admin' with password " + password + " (shown once)"));
            out.println("  get a token:  curl -X POST " + base + "/auth/token -H 'Content-Type: application/json' "
                    + "-d '{\"username\":\"admin\",\"password\":\"...\"}'"
                    + (dev ? "   (dev mode: any new username signs up)" : ""));
            out.flush();
            stop.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            bus.close();
            stopped.countDown();
        }
    }

    private static AuditLog audit(Config config) {
        String dir = config.get(Config.AUDIT_DIR);
        if (dir.isEmpty()) {
            return AuditLog.off();
        }
        try {
            return AuditLog.start(Path.of(dir), config.get(Config.AUDIT_RETENTION_DAYS), java.time.Clock.systemUTC());
        } catch (java.io.IOException e) {
            String why = switch (e) {
                case java.nio.file.FileAlreadyExistsException exists -> "a file is in its place";
                case java.nio.file.AccessDeniedException denied -> "permission denied";
                case java.nio.file.FileSystemException other when other.getReason() != null -> other.getReason();
                default -> e.getClass().getSimpleName();
            };
            throw new IllegalArgumentException("config key 'audit.dir' is invalid: cannot make or write the directory "
                    + dir + ": " + why);
        }
    }

    /** Writes the engine's counters and their rates since the last record, every {@code every}. */
    static void recordPerformance(MessageBus bus, AuditLog audit, Duration every,
            java.util.concurrent.CountDownLatch stop) {
        if (!audit.enabled()) {
            return;
        }
        Thread.ofVirtual().name("swarmbus-performance").start(() -> {
            io.swarmbus.messaging.BusStats last = bus.stats();
            try {
                while (!stop.await(every.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS)) {
                    io.swarmbus.messaging.BusStats now = bus.stats();
                    double seconds = every.toMillis() / 1000.0;
                    Map<String, Object> fields = new java.util.LinkedHashMap<>();
                    fields.put("interval_seconds", seconds);
                    fields.put("sent_per_second", (now.sent() - last.sent()) / seconds);
                    fields.put("acked_per_second", (now.acked() - last.acked()) / seconds);
                    fields.put("delivered_per_second", (now.delivered() - last.delivered()) / seconds);
                    fields.put("dead_lettered", now.deadLettered() - last.deadLettered());
                    fields.put("fsyncs", now.journal().fsyncs() - last.journal().fsyncs());
                    fields.put("agents", now.agentInboxes());
                    fields.put("retained_messages", now.retainedMessages());
                    fields.put("audit_records_dropped", audit.dropped());
                    audit.record(AuditLog.Stream.PERFORMANCE, "snapshot", fields);
                    last = now;
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
    }

    /**
     * Command-line flags as config keys. An unknown flag is refused: a mistyped {@code --prot} must
     * not start a server on the default port.
     */
    static Map<String, String> flags(Map<String, String> options) {
        java.util.Set<String> known = new java.util.TreeSet<>(Config.FLAGS.keySet());
        known.add("config");
        for (String name : options.keySet()) {
            if (!known.contains(name)) {
                throw new IllegalArgumentException("unknown option --" + name + "; the options are --"
                        + String.join(", --", known));
            }
        }
        Map<String, String> flags = new HashMap<>();
        // --dev is a plain flag: parse() gives it the value "true"
        Config.FLAGS.forEach((flag, key) -> Optional.ofNullable(options.get(flag)).ifPresent(v -> flags.put(key, v)));
        return flags;
    }

    static BusConfig busConfig(Config config) {
        return BusConfig.builder(Path.of(config.get(Config.DATA_DIR)))
                .fsyncPolicy(io.swarmbus.storage.FsyncPolicy.valueOf(config.get(Config.FSYNC_POLICY).toUpperCase(java.util.Locale.ROOT)))
                .fsyncInterval(Duration.ofMillis(config.get(Config.FSYNC_INTERVAL_MS)))
                .maxMessageBytes(config.get(Config.MAX_MESSAGE_BYTES))
                .maxReceiveBytes(config.get(Config.MAX_RECEIVE_BYTES))
                .maxInboxDepth(config.get(Config.MAX_INBOX_DEPTH))
                .defaultVisibility(Duration.ofSeconds(config.get(Config.VISIBILITY_SECONDS)))
                .maxDeliveries(config.get(Config.MAX_DELIVERIES))
                .dedupeWindow(Duration.ofSeconds(config.get(Config.DEDUPE_WINDOW_SECONDS)))
                .historyRetention(Duration.ofHours(config.get(Config.HISTORY_RETENTION_HOURS)))
                .historyMaxMessages(config.get(Config.HISTORY_MAX_MESSAGES))
                .historyMaxBytes(historyMaxBytes(config, directMemoryLimit()))
                .build();
    }

    /**
     * Kept history lives in direct memory, which Jetty's I/O buffers share: it gets at most half
     * of the JVM's limit, whatever the setting asks, so that a small heap (and with it a small
     * default limit) never leaves the server short of buffers.
     */
    static long historyMaxBytes(Config config, long directMemoryLimit) {
        return Math.min((long) config.get(Config.HISTORY_MAX_MEGABYTES) << 20, directMemoryLimit / 2);
    }

    /** {@code -XX:MaxDirectMemorySize}, or the heap's maximum when it is not set (the JVM's default). */
    static long directMemoryLimit() {
        String value = java.lang.management.ManagementFactory.getPlatformMXBean(
                com.sun.management.HotSpotDiagnosticMXBean.class).getVMOption("MaxDirectMemorySize").getValue();
        long bytes = Long.parseLong(value);
        return bytes > 0 ? bytes : Runtime.getRuntime().maxMemory();
    }

    private static final java.util.Set<String> TWO_WORD = java.util.Set.of("user", "agent", "group", "topic", "task", "network",
            "swarm", "managed");

    private int client(String command, Map<String, String> options) {
        try {
            new Cli(out, System.getenv()).run(command, options);
            return 0;
        } catch (Cli.Failure e) {
            err.println("swarmbus: " + e.getMessage());
            return 1;
        } catch (IllegalArgumentException e) {
            err.println("swarmbus: " + e.getMessage() + (e.getMessage().startsWith("unknown command") ? "\n" + USAGE : ""));
            return 2;
        }
    }

    /**
     * The lines of {@link #USAGE} for {@code command} and the commands it begins (say, {@code task}
     * for {@code task create} and the rest); empty for none.
     */
    static String usageOf(String command) {
        StringBuilder lines = new StringBuilder();
        boolean inCommand = false;
        for (String line : USAGE.lines().toList()) {
            if (line.matches("  \\S.*")) { // a command; its continuations are indented further
                String text = line.strip();
                inCommand = text.equals(command) || text.startsWith(command + " ");
            } else if (!line.startsWith("   ")) {
                inCommand = false;
            }
            if (inCommand) {
                lines.append(line).append('\n');
            }
        }
        return lines.toString();
    }

    /**
     * {@code --name value} pairs from {@code args[first]} on; a {@linkplain #PLAIN_FLAGS plain flag}
     * maps to "true" and never takes the next argument, and any other option needs its value.
     */
    static Map<String, String> parse(String[] args, int first) {
        Map<String, String> options = new HashMap<>();
        for (int i = first; i < args.length; i++) {
            // "--" and "--=x" name no option: not one named "" to ask a value for
            if (!args[i].startsWith("--") || args[i].equals("--") || args[i].startsWith("--=")) {
                String before = i > first ? args[i - 1] : "";
                boolean afterPlainFlag = !args[i].startsWith("--") && before.startsWith("--")
                        && PLAIN_FLAGS.contains(before.substring(2));
                throw new IllegalArgumentException("unexpected argument '" + args[i] + "'; " + (afterPlainFlag
                        ? before + " is a flag and takes no value" : "options look like --name value"));
            }
            String name = args[i].substring(2);
            String value;
            int equals = name.indexOf('=');
            if (equals > 0) { // --name=value: the way to give a value that itself starts with "--"
                value = name.substring(equals + 1);
                name = name.substring(0, equals);
                if (PLAIN_FLAGS.contains(name)) {
                    throw new IllegalArgumentException("--" + name + " is a flag and takes no value");
                }
            } else {
                boolean flag = PLAIN_FLAGS.contains(name);
                if (!flag && (i + 1 == args.length || args[i + 1].startsWith("--"))) {
                    throw new IllegalArgumentException("--" + name + " needs a value (--" + name
                            + "=<value> for one that starts with --)");
                }
                value = flag ? "true" : args[++i];
            }
            // Repeatable: --llm-backend A --llm-backend B is the list "A,B". Any other option given
            // twice is a mistake to point out, not one to settle by taking the last.
            String option = name;
            options.merge(option, value, (a, b) -> {
                if (!option.equals("llm-backend")) {
                    throw new IllegalArgumentException("--" + option + " is given twice");
                }
                return a + "," + b;
            });
        }
        return options;
    }

    static String describe(MessageRecord record) {
        return record.message().id() + "  " + record.message().from() + " -> " + target(record.message().to())
                + "  " + record.message().type() + "  [" + deliveries(record.deliveries()) + "]";
    }

    static String target(Address address) {
        return switch (address) {
            case Address.Direct d -> d.agent().value();
            case Address.Group g -> "group '" + g.name() + "'";
            case Address.Topic t -> "topic '" + t.name() + "'";
            case Address.Broadcast b -> "everyone";
        };
    }

    static String describe(RecoveryReport report) {
        return String.format("recovered %,d snapshot record(s) and %,d journal record(s) in %d ms; %s",
                report.snapshotRecords(), report.journalRecords(), report.millis(),
                report.clean() ? "nothing needed repair" : "repaired: " + String.join("; ", report.problems()));
    }

    static String describe(BusStats stats) {
        return String.format("this run: %d sent, %d delivered, %d acked, %d nacked, %d dead-lettered, "
                        + "%d duplicates; %d inboxes, %d messages retained", stats.sent(), stats.delivered(),
                stats.acked(), stats.nacked(), stats.deadLettered(), stats.duplicates(), stats.inboxes(),
                stats.retainedMessages());
    }

    static String deliveries(List<DeliveryInfo> infos) {
        return infos.stream().map(d -> d.recipient() + "=" + d.status().wireName()).collect(Collectors.joining(", "));
    }
}
