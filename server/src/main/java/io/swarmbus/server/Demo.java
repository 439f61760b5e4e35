package io.swarmbus.server;

import io.swarmbus.messaging.Address;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.messaging.Delivery;
import io.swarmbus.messaging.HistoryQuery;
import io.swarmbus.messaging.MessageBus;
import io.swarmbus.messaging.MessageType;
import io.swarmbus.messaging.Priority;
import io.swarmbus.messaging.SendRequest;
import io.swarmbus.messaging.SendResult;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * A small swarm conversation through the engine, printing each step: direct, group, topic and
 * broadcast sends, priority order, ack, nack and redelivery, an idempotent retry, and history.
 * Safe to run again on the same data directory: what earlier runs left is recovered and shown.
 */
final class Demo {
    private static final AgentId PLANNER = AgentId.of("planner");
    private static final AgentId RESEARCHER = AgentId.of("researcher");
    private static final AgentId WRITER = AgentId.of("writer");
    private static final AgentId REVIEWER = AgentId.of("reviewer");

    private final MessageBus bus;
    private final PrintStream out;

    Demo(MessageBus bus, PrintStream out) {
        this.bus = bus;
        this.out = out;
    }

    void run(Path dataDir) {
        out.println("Swarmbus engine demo, data in " + dataDir.toAbsolutePath());
        out.println("  " + Main.describe(bus.recovery()));
        setUp();
        SendResult plan = send(SendRequest.builder(PLANNER, Address.agent(RESEARCHER))
                .type(MessageType.TASK_REQUEST).priority(Priority.HIGH)
                .content("{\"task\":\"find three sources on swarm routing\"}"));
        send(SendRequest.builder(PLANNER, Address.agent(RESEARCHER)).content("{\"note\":\"no rush\"}")
                .priority(Priority.LOW));
        send(SendRequest.builder(PLANNER, Address.group("team")).type(MessageType.COORDINATION)
                .content("{\"standup\":\"in 5 minutes\"}"));
        send(SendRequest.builder(WRITER, Address.topic("drafts")).content("{\"draft\":\"v1\"}"));
        send(SendRequest.builder(PLANNER, Address.broadcast()).type(MessageType.STATUS_UPDATE)
                .content("{\"status\":\"sprint started\"}"));

        receiveAndAck(RESEARCHER);
        nackAndRedeliver(WRITER);
        receiveAndAck(REVIEWER);
        idempotentRetry();

        out.println("history of " + RESEARCHER + " (newest first):");
        bus.history(HistoryQuery.all().withAgent(RESEARCHER).withLimit(5))
                .forEach(r -> out.println("  " + Main.describe(r)));
        out.println(Main.describe(bus.stats()));
        out.println("run it again: the journal is replayed and nothing acked comes back.");
    }

    private void setUp() {
        for (AgentId agent : List.of(PLANNER, RESEARCHER, WRITER, REVIEWER)) {
            out.printf("inbox %-10s %s%n", agent, bus.createInbox(agent) ? "created" : "recovered");
        }
        if (bus.groupMembers("team").isEmpty()) {
            bus.createGroup("team", List.of(RESEARCHER, WRITER, REVIEWER));
        }
        bus.subscribe(REVIEWER, "drafts");
        out.println("group 'team' = " + bus.groupMembers("team").orElseThrow().stream().sorted().toList()
                + "; topic 'drafts' subscribers = " + bus.subscribers("drafts"));
    }

    private SendResult send(SendRequest.Builder request) {
        SendRequest built = request.build();
        SendResult result = bus.send(built);
        out.printf("sent     %s  %-8s -> %-18s %-15s %-8s (%d recipient(s), durable)%n", result.id(),
                built.from(), Main.target(built.to()), built.type(), built.priority().wireName(), result.recipients());
        return result;
    }

    private void receiveAndAck(AgentId agent) {
        List<Delivery> got = bus.receive(agent, 10, Duration.ofSeconds(30), Duration.ofSeconds(1));
        for (Delivery d : got) {
            out.printf("received %s  %-8s <- %-8s %-15s %-8s attempt %d  %s%n", d.id(), agent, d.message().from(),
                    d.message().type(), d.message().priority().wireName(), d.attempt(), d.message().content());
            bus.ack(agent, d.id());
        }
        out.printf("acked    %d message(s) for %s%n", got.size(), agent);
    }

    private void nackAndRedeliver(AgentId agent) {
        List<Delivery> got = bus.receive(agent, 1);
        if (got.isEmpty()) {
            return;
        }
        Delivery first = got.getFirst();
        bus.nack(agent, first.id(), Duration.ZERO);
        out.printf("nacked   %s  %-8s (gave it back)%n", first.id(), agent);
        receiveAndAck(agent);
    }

    private void idempotentRetry() {
        SendRequest request = SendRequest.builder(PLANNER, Address.agent(WRITER))
                .content("{\"task\":\"write the summary\"}").idempotencyKey("summary-1").build();
        SendResult first = bus.send(request);
        SendResult retry = bus.send(request);
        out.printf("retried  %s  same idempotency key -> same id %s, duplicate=%s%n", first.id(), retry.id(),
                retry.duplicate());
    }
}
