package io.swarmbus.server;

import io.swarmbus.llm.GatewaySettings;
import java.util.Optional;

/**
 * Every gateway test again, with the OpenAI-compatible API called on the gateway's own port,
 * on platform threads.
 */
class LlmGatewayPortTest extends LlmGatewayTest {
    @Override
    void start(GatewaySettings llm) throws Exception {
        start(llm, Optional.of(new ServerSettings.LlmPort(0, 32)));
    }

    @Override
    int v1Port() {
        return server.llmPort().orElseThrow();
    }
}
