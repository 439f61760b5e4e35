package io.swarmbus.server;

/** The official OpenAI client again, calling the gateway's own port. */
class OpenAiSdkPortTest extends OpenAiSdkTest {
    @Override
    ServerSettings settings(ServerSettings settings) {
        return settings.withLlmPort(new ServerSettings.LlmPort(0, 32));
    }

    @Override
    int v1Port() {
        return server.llmPort().orElseThrow();
    }
}
