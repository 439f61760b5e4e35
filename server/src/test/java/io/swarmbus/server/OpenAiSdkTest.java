package io.swarmbus.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.NotFoundException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.embeddings.CreateEmbeddingResponse;
import com.openai.models.embeddings.EmbeddingCreateParams;
import com.openai.models.models.Model;
import io.swarmbus.llm.BackendSpec;
import io.swarmbus.llm.GatewaySettings;
import io.swarmbus.llm.sim.SimSettings;
import io.swarmbus.messaging.BusConfig;
import io.swarmbus.messaging.MessageBus;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The official OpenAI Java library, pointed at Swarmbus with a Swarmbus token as its key, works unchanged. */
class OpenAiSdkTest {
    @TempDir
    Path dir;
    MessageBus bus;
    HttpServer server;
    LlmSimServer sim;
    OpenAIClient openai;

    @BeforeEach
    void start() throws Exception {
        sim = LlmSimServer.start(SimSettings.defaults().with(Map.of("model", "sim-model,meta-llama/Llama-3-8B",
                "overhead-ms", "1", "decode-rate", "500", "output-tokens", "8")), "127.0.0.1", 0);
        bus = MessageBus.open(BusConfig.builder(dir).build());
        server = HttpServer.start(bus, settings(ServerSettings.forTests(dir).withLlm(GatewaySettings.of(
                List.of(BackendSpec.ofUrl("http://127.0.0.1:" + sim.port() + "/v1", 8)), "least_outstanding"))));
        HttpResponse<String> login = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(
                "http://127.0.0.1:" + server.port() + "/auth/token")).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"username\":\"sdk\",\"password\":\"password-1\"}"))
                .build(), HttpResponse.BodyHandlers.ofString());
        String token = RequestBody.MAPPER.readTree(login.body()).get("access_token").asText();
        openai = OpenAIOkHttpClient.builder().baseUrl("http://127.0.0.1:" + v1Port() + "/v1").apiKey(token)
                .maxRetries(0).build();
    }

    /** The server's settings: as given here; with a gateway port in {@link OpenAiSdkPortTest}. */
    ServerSettings settings(ServerSettings settings) {
        return settings;
    }

    /** The port the client calls. */
    int v1Port() {
        return server.port();
    }

    @AfterEach
    void stop() {
        openai.close();
        server.close();
        bus.close();
        sim.close();
    }

    ChatCompletionCreateParams params(String model) {
        return ChatCompletionCreateParams.builder().model(model).addSystemMessage("You are terse.")
                .addUserMessage("Name three colours.").build();
    }

    @Test
    void chatCompletion() {
        ChatCompletion completion = openai.chat().completions().create(params("sim-model"));
        assertThat(completion.choices()).hasSize(1);
        assertThat(completion.choices().getFirst().message().content().orElseThrow().split(" ")).hasSize(8);
        assertThat(completion.usage().orElseThrow().completionTokens()).isEqualTo(8);
    }

    @Test
    void streamedChatCompletion_arrivesInChunks() {
        StringBuilder text = new StringBuilder();
        int chunks = 0;
        try (StreamResponse<ChatCompletionChunk> stream = openai.chat().completions().createStreaming(params("sim-model"))) {
            for (ChatCompletionChunk chunk : (Iterable<ChatCompletionChunk>) stream.stream()::iterator) {
                chunks++;
                chunk.choices().forEach(choice -> choice.delta().content().ifPresent(text::append));
            }
        }
        assertThat(chunks).isGreaterThanOrEqualTo(9); // role, 8 tokens, finish
        assertThat(text.toString().split(" ")).hasSize(8);
        assertThat(text.toString()).isEqualTo(openai.chat().completions().create(params("sim-model")).choices()
                .getFirst().message().content().orElseThrow()); // same prompt, same deterministic answer
    }

    @Test
    void embeddingsAndModels() {
        CreateEmbeddingResponse embeddings = openai.embeddings().create(EmbeddingCreateParams.builder()
                .model("sim-model").input("agents talk").build());
        assertThat(embeddings.data().getFirst().embedding()).hasSize(64);
        assertThat(openai.models().list().items()).extracting(m -> m.id()).contains("sim-model");
    }

    /** Regression: {@code models().retrieve} failed with NotFoundException for every model. */
    @Test
    void aModel_isRetrievedByItsId_evenOneWithASlash() {
        long now = System.currentTimeMillis() / 1000;
        for (String id : List.of("sim-model", "meta-llama/Llama-3-8B")) {
            Model model = openai.models().retrieve(id);
            assertThat(model.id()).isEqualTo(id);
            assertThat(model.created()).as("a Unix time, not 0").isBetween(now - 600, now);
            assertThat(model.ownedBy()).isEqualTo("swarmbus");
            assertThat(openai.models().list().items()).contains(model);
        }
        assertThatThrownBy(() -> openai.models().retrieve("gpt-nonexistent"))
                .isInstanceOf(NotFoundException.class).hasMessageContaining("gpt-nonexistent");
    }

    @Test
    void anUnknownModel_isTheSdksNotFoundError_withTheGatewaysMessage() {
        assertThatThrownBy(() -> openai.chat().completions().create(params("gpt-nonexistent")))
                .isInstanceOf(NotFoundException.class).hasMessageContaining("gpt-nonexistent");
    }
}
