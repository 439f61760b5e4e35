package io.swarmbus.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

class NetworkInsightsTest {
    static ObjectNode execution(String status, Long millis, boolean finishedAt) {
        ObjectNode e = RequestBody.MAPPER.createObjectNode().put("status", status)
                .put("started_at", "2026-11-24T00:00:00Z");
        if (millis != null) {
            e.put("duration_ms", millis);
        }
        if (finishedAt) {
            e.put("finished_at", "2026-11-24T00:00:10Z");
        }
        return e;
    }

    @Test
    void ratesCountEveryFinishedExecution_theMeanTimeThoseWithADuration() {
        List<ObjectNode> executions = List.of(execution("completed", 1000L, true), execution("partial", 2000L, true),
                execution("failed", null, true), // failed before its strategy could end: no duration
                execution("failed", null, false), // cut short by a restart
                execution("running", null, false));

        ObjectNode metrics = NetworkInsights.metrics(executions, Instant.parse("2026-11-24T00:01:00Z"));

        assertThat(metrics.get("finished_executions").asInt()).isEqualTo(4);
        assertThat(metrics.get("success_rate").asDouble()).isEqualTo(0.25);
        assertThat(metrics.get("partial_rate").asDouble()).isEqualTo(0.25);
        assertThat(metrics.get("avg_execution_time").asDouble()).isEqualTo(1.5);
        assertThat(metrics.get("throughput").asDouble()).as("three finished in the minute since the first began")
                .isEqualTo(3.0);
    }
}
