package io.swarmbus.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.swarmbus.ErrorCode;
import io.swarmbus.SwarmbusException;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.registry.AgentInfo;
import io.swarmbus.registry.Registry;
import io.swarmbus.storage.DurableTable;
import io.swarmbus.swarm.ConsensusAlgorithm;
import io.swarmbus.swarm.Execution;
import io.swarmbus.swarm.Strategy;
import io.swarmbus.swarm.SwarmRunner;
import io.swarmbus.tasks.TaskCoordinator;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Agent networks (seed 003 §1): named sets of agents with a coordination strategy. Executing a
 * task on a network runs the strategy over its agents as tasks ({@link TaskWorkers}) on a thread
 * of its own; the execution, with every step, is kept durably. Networks and executions are JSON
 * rows in {@link DurableTable}s.
 */
final class Networks implements AutoCloseable {
    /** The seed's default: each execution goes whole to the next agent in turn. */
    static final String ROUND_ROBIN = "round-robin";
    private static final int KEEP_EXECUTIONS = 10_000;
    private static final Logger LOG = LoggerFactory.getLogger(Networks.class);
    /** How long closing waits for interrupted runs to record how they ended. */
    private static final Duration CLOSE_WAIT = Duration.ofSeconds(5);
    private static final String STOPPED = "the server stopped during the execution";

    private final DurableTable networkTable;
    private final DurableTable executionTable;
    private final Registry registry;
    private final TaskCoordinator tasks;
    private final TaskWorkers.Outcomes outcomes;
    private final Clock clock;
    private final Map<String, ObjectNode> networks = new ConcurrentHashMap<>();
    private final Map<String, ObjectNode> executions = new ConcurrentHashMap<>();
    private final Map<String, AtomicLong> turns = new ConcurrentHashMap<>();
    private final SortableIds ids;
    /** Running executions: completed with the finished execution, for callers that wait. */
    private final Map<String, CompletableFuture<ObjectNode>> running = new ConcurrentHashMap<>();
    private final Set<Thread> runThreads = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;

    Networks(DurableTable networkTable, DurableTable executionTable, Registry registry, TaskCoordinator tasks,
            TaskWorkers.Outcomes outcomes, Clock clock) {
        this.networkTable = networkTable;
        this.executionTable = executionTable;
        this.registry = registry;
        this.tasks = tasks;
        this.outcomes = outcomes;
        this.clock = clock;
        this.ids = new SortableIds(clock);
        networkTable.rows().forEach((id, bytes) -> networks.put(id, JsonRows.read(bytes)));
        // An agent deleted (or deleted and registered again) before its network was told is taken out now.
        networks.replaceAll((id, network) -> without(id, network, agent -> registry.ownership(AgentId.of(agent))
                .filter(o -> !o.since().isAfter(Instant.parse(network.get("created_at").asText()))).isEmpty()));
        executionTable.rows().forEach((id, bytes) -> {
            ObjectNode execution = JsonRows.read(bytes);
            if (running(execution)) { // the server stopped mid-run
                execution.put("status", "failed").put("error", STOPPED);
                executionTable.put(id, JsonRows.bytes(execution));
            }
            executions.put(id, execution);
        });
    }

    /** Every valid {@code coordination_strategy}. */
    static List<String> strategies() {
        List<String> names = new ArrayList<>(List.of(ROUND_ROBIN));
        names.addAll(Strategy.wireNames());
        return names;
    }

    /**
     * A valid strategy's wire name ({@code map_reduce} is taken for {@code map-reduce}); 400 naming
     * {@code field}, where the name came from, and listing the valid ones.
     */
    private static String coordination(String name, String field) {
        if (name.equals(ROUND_ROBIN)) {
            return name;
        }
        try {
            return Strategy.parse(name).wireName();
        } catch (SwarmbusException e) {
            throw SwarmbusException.invalid(field, "unknown " + field + " '" + name + "'; valid: " + strategies());
        }
    }

    /** A network's name, checked before its other fields, as the request lists it first. */
    static String requireName(String name) {
        if (name.isBlank() || name.length() > 200) {
            throw SwarmbusException.invalid("name", "name must be 1 to 200 characters");
        }
        return name;
    }

    ObjectNode create(String owner, boolean admin, String name, String description, List<String> agents,
            String strategy) {
        requireName(name);
        if (agents.isEmpty() || agents.size() > 10_000) {
            throw SwarmbusException.invalid("agents", "a network needs 1 to 10000 agents, was " + agents.size());
        }
        String coordination = coordination(strategy, "coordination_strategy");
        java.util.Set<String> seen = new java.util.HashSet<>();
        java.util.Set<String> owners = new java.util.TreeSet<>();
        for (String agent : agents) {
            if (!seen.add(agent)) {
                throw SwarmbusException.invalid("agents", "'agents' names " + agent + " twice");
            }
            AgentId id = RequestBody.agentId("agents", agent);
            Optional<String> agentOwner = registry.ownerOf(id);
            if (agentOwner.isEmpty() || !(admin || agentOwner.get().equals(owner))) {
                throw new SwarmbusException(ErrorCode.NOT_FOUND, "Agent " + agent + " not found");
            }
            owners.add(agentOwner.get());
        }
        // The network is its agents' owner's, whoever made it (an admin may name anyone's agents): its
        // executions are that user's tasks, which only that user's agents take; an admin's would wait forever.
        if (owners.size() > 1) {
            throw SwarmbusException.invalid("agents", "'agents' are agents of " + owners.size()
                    + " users; a network runs over one user's agents");
        }
        String networkOwner = owners.iterator().next();
        Instant now = clock.instant();
        ObjectNode network = RequestBody.MAPPER.createObjectNode().put("id", ids.next("net"))
                .put("name", name).put("description", description);
        ArrayNode list = network.putArray("agents");
        agents.forEach(list::add);
        network.put("coordination_strategy", coordination).put("status", "active")
                .put("created_at", now.toString()).put("updated_at", now.toString()).put("owner_id", networkOwner);
        networkTable.put(network.get("id").asText(), JsonRows.bytes(network));
        networks.put(network.get("id").asText(), network);
        return network;
    }

    /**
     * Takes a deleted agent out of every network that has it, as it leaves its swarms: no execution
     * gives it work again, and an agent registered later under its id is not taken for it. A
     * network left with no agents stays, but runs nothing.
     */
    void removeAgent(AgentId agent) {
        for (String id : List.copyOf(networks.keySet())) {
            networks.computeIfPresent(id, (key, network) -> without(key, network, agent.value()::equals));
        }
    }

    /** The network without the agents {@code gone} holds, stored if that is a change; on a copy, as readers may hold it. */
    private ObjectNode without(String id, ObjectNode network, java.util.function.Predicate<String> gone) {
        ArrayNode agents = RequestBody.MAPPER.createArrayNode();
        network.get("agents").forEach(agent -> {
            if (!gone.test(agent.asText())) {
                agents.add(agent);
            }
        });
        if (agents.size() == network.get("agents").size()) {
            return network;
        }
        ObjectNode updated = network.deepCopy().put("updated_at", clock.instant().toString());
        updated.set("agents", agents);
        networkTable.put(id, JsonRows.bytes(updated));
        return updated;
    }

    /** The network, if it exists and {@code owner} may see it. */
    ObjectNode require(String id, String owner, boolean admin) {
        ObjectNode network = networks.get(id);
        if (network == null || !(admin || network.path("owner_id").asText().equals(owner))) {
            throw new SwarmbusException(ErrorCode.NOT_FOUND, "Agent network " + id + " not found");
        }
        return network;
    }

    List<ObjectNode> list(String owner, boolean admin) {
        return networks.values().stream().filter(n -> admin || n.path("owner_id").asText().equals(owner))
                .sorted(Comparator.comparing(n -> n.path("created_at").asText())).toList();
    }

    /**
     * Starts running {@code task} on {@code network}: {@code objective} (else {@code description}
     * or {@code prompt}, else the whole task as text), and optionally {@code items},
     * {@code strategy}, {@code timeout_seconds}, {@code rounds}, {@code consensus_algorithm},
     * {@code quorum}, {@code chunk_chars}, {@code leader}, {@code judge}.
     */
    ObjectNode execute(ObjectNode network, JsonNode task, String priority) {
        requireObject(task);
        String strategyName = RequestBody.of((ObjectNode) task).optionalText("strategy")
                .map(name -> coordination(name, "strategy"))
                .orElse(network.path("coordination_strategy").asText());
        List<String> agents = new ArrayList<>();
        network.get("agents").forEach(a -> agents.add(a.asText()));
        if (agents.isEmpty()) {
            throw new SwarmbusException(ErrorCode.INVALID_STATE, "Agent network " + network.get("id").asText()
                    + " has no agents left: they were deleted");
        }
        Strategy strategy;
        if (strategyName.equals(ROUND_ROBIN)) {
            long turn = turns.computeIfAbsent(network.get("id").asText(), k -> new AtomicLong()).getAndIncrement();
            String next = agents.get((int) (turn % agents.size()));
            agents.clear();
            agents.add(next);
            strategy = Strategy.SEQUENTIAL; // one step, on the next agent in turn
        } else {
            strategy = Strategy.parse(strategyName);
        }
        ObjectNode execution = RequestBody.MAPPER.createObjectNode().put("execution_id", ids.next("exe"))
                .put("network_id", network.get("id").asText());
        execution.set("task", task);
        execution.put("coordination_strategy", strategyName).put("priority", priority);
        return start(execution, agents, strategy, task, network.path("owner_id").asText(),
                () -> touch(network.get("id").asText()));
    }

    /**
     * Runs {@code strategy} over {@code agents} on a thread of its own, as {@code owner}'s tasks,
     * and stores {@code execution} as running, then finished with its result and steps; calls
     * {@code after} at the end. The task's fields are as for {@link #execute}.
     */
    ObjectNode start(ObjectNode execution, List<String> agents, Strategy strategy, JsonNode task, String owner,
            Runnable after) {
        requireObject(task);
        // The task's settings are read as strictly as a request's fields: Jackson's asInt would take
        // "x" as 0 and 2.5 as 2, and a run would go ahead on settings the caller never asked for.
        RequestBody settings = RequestBody.of((ObjectNode) task);
        String objective = settings.optionalText("objective").or(() -> settings.optionalText("description"))
                .or(() -> settings.optionalText("prompt")).orElse("");
        objective = objective.isBlank() ? task.toString() : objective;
        Map<String, Double> weights = weights(settings);
        List<SwarmRunner.Member> members = agents.stream().map(a -> new SwarmRunner.Member(a, role(a),
                weights.getOrDefault(a, 1.0))).toList();
        SwarmRunner.Plan plan = new SwarmRunner.Plan(strategy, objective, task.path("input"), members, options(settings));
        int retries = settings.integer("max_retries").orElse(1);
        if (retries < 0 || retries > 3) {
            throw SwarmbusException.invalid("max_retries", "max_retries must be 0 to 3, was " + retries);
        }
        // Nothing is refused from here on: the execution is stored as running.
        execution.put("status", "running").put("started_at", clock.instant().toString());
        execution.putNull("results");
        store(execution);
        CompletableFuture<ObjectNode> finished = new CompletableFuture<>();
        running.put(execution.get("execution_id").asText(), finished);
        SwarmRunner runner = new SwarmRunner(new TaskWorkers(tasks, outcomes, owner, retries), clock);
        Thread thread = Thread.ofVirtual().name("swarmbus-run-" + execution.get("execution_id").asText()).unstarted(() -> {
            ObjectNode done = execution.deepCopy();
            try {
                Execution result = runner.run(plan);
                done.put("status", result.status()).set("results", result.result());
                done.set("steps", steps(result.steps()));
                done.put("finished_at", result.finishedAt().toString())
                        .put("duration_ms", Duration.between(result.startedAt(), result.finishedAt()).toMillis());
            } catch (RuntimeException e) {
                done.put("status", "failed").put("error", String.valueOf(e.getMessage()))
                        .put("finished_at", clock.instant().toString());
            }
            if (closed) { // interrupted by close: whatever the runner made of that, the run did not finish
                done.put("status", "failed").put("error", STOPPED).put("finished_at", clock.instant().toString());
            }
            try {
                store(done);
                running.remove(done.get("execution_id").asText());
                finished.complete(done);
                after.run();
            } catch (RuntimeException e) { // the tables closed under a run that outlasted CLOSE_WAIT
                LOG.debug("execution {} ended after close: {}", done.get("execution_id").asText(), e.getMessage());
            } finally {
                runThreads.remove(Thread.currentThread());
            }
        });
        runThreads.add(thread);
        thread.start();
        return execution;
    }

    private static void requireObject(JsonNode task) {
        if (!task.isObject()) {
            throw SwarmbusException.invalid("task", "task must be a JSON object");
        }
    }

    /** Executions matching {@code filter}, oldest first. */
    List<ObjectNode> executionsWhere(java.util.function.Predicate<ObjectNode> filter) {
        return executions.values().stream().filter(filter)
                .sorted(Comparator.comparing(e -> e.path("started_at").asText())).toList();
    }

    /** Sets a network's {@code updated_at}, on a copy: readers may be serializing the old one. */
    private void touch(String networkId) {
        networks.computeIfPresent(networkId, (id, network) -> {
            ObjectNode updated = network.deepCopy().put("updated_at", clock.instant().toString());
            networkTable.put(id, JsonRows.bytes(updated));
            return updated;
        });
    }

    /** New execution ids, for callers that build their own executions for {@link #start}. */
    String newExecutionId(String prefix) {
        return ids.next(prefix);
    }

    static boolean running(ObjectNode execution) {
        return execution.path("status").asText().equals("running");
    }

    /** The execution once it has finished, or as it stands after {@code seconds}. */
    ObjectNode awaitFinished(ObjectNode execution, int seconds) throws InterruptedException {
        String id = execution.get("execution_id").asText();
        CompletableFuture<ObjectNode> finished = running.get(id);
        if (finished != null && seconds > 0) {
            try {
                return finished.get(seconds, TimeUnit.SECONDS);
            } catch (TimeoutException stillRunning) {
                // answered as it stands
            } catch (ExecutionException e) {
                throw new IllegalStateException(e.getCause());
            }
        }
        return execution(id).orElse(execution);
    }

    /** {@code ?wait_seconds=}: 0 if absent, else 0 to {@code max}. */
    static int waitSeconds(String wait, int max) {
        if (wait == null) {
            return 0;
        }
        try {
            int seconds = Integer.parseInt(wait.trim());
            if (seconds >= 0 && seconds <= max) {
                return seconds;
            }
        } catch (NumberFormatException e) {
            // said below
        }
        throw SwarmbusException.invalid("wait_seconds", "wait_seconds must be 0 to " + max);
    }

    Optional<ObjectNode> execution(String id) {
        return Optional.ofNullable(executions.get(id));
    }

    /** The network's executions, oldest first. */
    List<ObjectNode> executionsOf(String networkId) {
        return executionsWhere(e -> e.path("network_id").asText().equals(networkId));
    }

    private SwarmRunner.Options options(RequestBody settings) {
        SwarmRunner.Options defaults = SwarmRunner.Options.defaults();
        return new SwarmRunner.Options(
                settings.number("timeout_seconds").map(s -> Duration.ofMillis((long) (s * 1000)))
                        .orElse(defaults.stepTimeout()),
                settings.integer("rounds").orElse(defaults.rounds()),
                settings.optionalText("consensus_algorithm").map(ConsensusAlgorithm::parse).orElse(defaults.consensus()),
                settings.number("quorum").orElse(defaults.quorum()),
                settings.integer("chunk_chars").orElse(defaults.chunkChars()),
                settings.optionalText("leader"), settings.optionalText("judge"));
    }

    private String role(String agent) {
        return registry.get(AgentId.of(agent)).map(info -> info.profile().role()).orElse("worker");
    }

    /** The members' vote weights by agent (1 for one not named), checked before any agent does work for the run. */
    private static Map<String, Double> weights(RequestBody settings) {
        Map<String, Double> weights = settings.numberMap("weights");
        weights.forEach((agent, weight) -> {
            if (weight < 0) {
                throw SwarmbusException.invalid("weights", "a vote's weight must be at least 0; '" + agent + "' has " + weight);
            }
        });
        return weights;
    }

    static ArrayNode steps(List<Execution.Step> steps) {
        ArrayNode list = RequestBody.MAPPER.createArrayNode();
        for (Execution.Step step : steps) {
            ObjectNode json = list.addObject().put("round", step.round()).put("kind", step.kind());
            json.put("task_id", step.taskId().orElse(null)).put("agent", step.agent().orElse(null))
                    .put("status", step.succeeded() ? "completed" : "failed").put("duration_ms", step.millis());
            step.output().ifPresent(output -> json.set("answer", SwarmRunner.answerOf(output)));
            step.error().ifPresent(e -> json.put("error", e));
        }
        return list;
    }

    private void store(ObjectNode execution) {
        String id = execution.get("execution_id").asText();
        executions.put(id, execution);
        executionTable.put(id, JsonRows.bytes(execution));
        if (executions.size() > KEEP_EXECUTIONS) {
            executions.values().stream().filter(e -> !running(e))
                    .min(Comparator.comparing(e -> e.path("started_at").asText())).ifPresent(oldest -> {
                        String oldestId = oldest.get("execution_id").asText();
                        executions.remove(oldestId);
                        executionTable.remove(oldestId);
                    });
        }
    }




    /** Agents of the network with their registry view, for status and optimize. */
    Map<String, Optional<AgentInfo>> agents(ObjectNode network) {
        Map<String, Optional<AgentInfo>> agents = new LinkedHashMap<>();
        network.get("agents").forEach(a -> agents.put(a.asText(), registry.get(AgentId.of(a.asText()))));
        return agents;
    }

    /**
     * Interrupts the runs still going, waits up to {@link #CLOSE_WAIT} for them to record that the
     * server stopped them (a run that outlasts it is marked so at the next start), and closes the
     * tables.
     */
    @Override
    public void close() {
        closed = true;
        runThreads.forEach(Thread::interrupt);
        long until = System.nanoTime() + CLOSE_WAIT.toNanos();
        try {
            for (Thread thread : List.copyOf(runThreads)) {
                thread.join(Duration.ofNanos(Math.max(1, until - System.nanoTime())));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        networkTable.close();
        executionTable.close();
    }
}
