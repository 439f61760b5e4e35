package io.swarmbus.llm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class ScalingTest {
    final Scaling.Settings settings = new Scaling.Settings(2, 10, 1.5, 10, 0.8);

    static Scaling.BackendLoad backends(int inFlight, int queued) {
        return new Scaling.BackendLoad(2, 2, 10, inFlight, queued);
    }

    @Test
    void backendsFollowRunningAndWaitingRequests_atTheTargetUtilization() {
        assertThat(Scaling.advise(settings, backends(0, 0), new Scaling.AgentLoad(4, 0)).desiredBackends()).isEqualTo(1);
        assertThat(Scaling.advise(settings, backends(16, 0), new Scaling.AgentLoad(4, 0)).desiredBackends()).isEqualTo(2);
        assertThat(Scaling.advise(settings, backends(20, 30), new Scaling.AgentLoad(4, 0)).desiredBackends()).isEqualTo(7);
        Scaling.Advice queuedOnOneSmallBackend = Scaling.advise(settings,
                new Scaling.BackendLoad(3, 3, 22, 1, 3), new Scaling.AgentLoad(4, 0));
        assertThat(queuedOnOneSmallBackend.desiredBackends()).as("never fewer while requests queue").isEqualTo(4);
        assertThat(queuedOnOneSmallBackend.backendReason()).contains("3 waiting for a slot");
    }

    @Test
    void agentsScaleByTheFactor_withinMinAndMax() {
        assertThat(Scaling.advise(settings, backends(0, 0), new Scaling.AgentLoad(4, 100)).desiredAgents()).isEqualTo(6);
        assertThat(Scaling.advise(settings, backends(0, 0), new Scaling.AgentLoad(8, 1_000)).desiredAgents()).isEqualTo(10);
        assertThat(Scaling.advise(settings, backends(0, 0), new Scaling.AgentLoad(4, 30)).desiredAgents()).isEqualTo(4);
        Scaling.Advice down = Scaling.advise(settings, backends(0, 0), new Scaling.AgentLoad(6, 0));
        assertThat(down.desiredAgents()).isEqualTo(4);
        assertThat(Scaling.advise(settings, backends(0, 0), new Scaling.AgentLoad(2, 0)).agentReason()).contains("held");
        assertThat(Scaling.advise(settings, backends(0, 0), new Scaling.AgentLoad(0, 5)).desiredAgents()).isEqualTo(2);
    }

    @Test
    void aBacklogWhileLlmRequestsQueue_asksForBackendsNotAgents() {
        Scaling.Advice advice = Scaling.advise(settings, backends(20, 10), new Scaling.AgentLoad(4, 400));
        assertThat(advice.desiredAgents()).isEqualTo(4);
        assertThat(advice.agentReason()).contains("add backends");
        assertThat(advice.desiredBackends()).isEqualTo(4);
    }

    @Test
    void nonsenseSettingsAreRefused() {
        assertThatThrownBy(() -> new Scaling.Settings(5, 2, 1.5, 10, 0.8)).hasMessageContaining("min_agents");
        assertThatThrownBy(() -> new Scaling.Settings(1, 2, 1.0, 10, 0.8)).hasMessageContaining("scaling_factor");
    }
}
