package io.swarmbus.bench;

import io.swarmbus.messaging.Address;
import io.swarmbus.messaging.AgentId;
import io.swarmbus.messaging.BusConfig;
import io.swarmbus.messaging.MessageBus;
import io.swarmbus.messaging.SendRequest;
import io.swarmbus.messaging.SendResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Deleting agents while messages are leased: {@code --agents} inboxes (default 10,000) each hold
 * {@code --leased} leased messages (default 6, as after a long-poll run whose receivers never ack),
 * then every inbox is deleted, one after another, and the time taken is printed. A delete must
 * cost what the deleted inbox holds, not what every inbox holds.
 *
 * <pre>
 * java -cp bench/target/swarmbus-bench.jar io.swarmbus.bench.DeleteLoad [--agents 10000] [--leased 6]
 * </pre>
 */
public final class DeleteLoad {
    private DeleteLoad() {}

    public static void main(String[] args) throws Exception {
        int agents = 10_000;
        int leased = 6;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--agents" -> agents = Integer.parseInt(args[++i]);
                case "--leased" -> leased = Integer.parseInt(args[++i]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        Path dir = Files.createTempDirectory("swarmbus-delete-");
        try (MessageBus bus = MessageBus.open(BusConfig.builder(dir).build())) {
            AgentId from = AgentId.of("producer");
            bus.createInbox(from);
            List<AgentId> inboxes = new ArrayList<>();
            for (int i = 0; i < agents; i++) {
                inboxes.add(AgentId.of("agent-" + i));
                bus.createInbox(inboxes.get(i));
            }
            List<CompletableFuture<SendResult>> sends = new ArrayList<>();
            for (int m = 0; m < leased; m++) {
                for (AgentId to : inboxes) {
                    sends.add(bus.sendAsync(SendRequest.builder(from, Address.agent(to)).content("\"work\"").build()));
                }
            }
            sends.forEach(CompletableFuture::join);
            for (AgentId agent : inboxes) {
                bus.receive(agent, leased);
            }
            long start = System.nanoTime();
            for (AgentId agent : inboxes) {
                bus.deleteInbox(agent);
            }
            long nanos = System.nanoTime() - start;
            System.out.printf("deleted %,d inboxes holding %,d leased messages in all: %,.0f ms, %,.0f µs each%n",
                    agents, agents * leased, nanos / 1e6, nanos / 1e3 / agents);
        } finally {
            try (var files = Files.walk(dir)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }
}
