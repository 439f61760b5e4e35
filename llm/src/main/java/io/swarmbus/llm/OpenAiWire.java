package io.swarmbus.llm;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;

/**
 * The OpenAI API's JSON shapes that Swarmbus writes itself: the simulator's answers and the
 * gateway's own errors and model list. (Answers from real backends pass through unchanged.)
 */
public final class OpenAiWire {
    public static final ObjectMapper JSON = new ObjectMapper();

    private OpenAiWire() {}

    /** Token counts, with the cached share of the prompt as OpenAI reports it. */
    public static ObjectNode usage(int promptTokens, int completionTokens, int cachedTokens) {
        ObjectNode usage = JSON.createObjectNode();
        usage.put("prompt_tokens", promptTokens);
        usage.put("completion_tokens", completionTokens);
        usage.put("total_tokens", promptTokens + completionTokens);
        usage.putObject("prompt_tokens_details").put("cached_tokens", cachedTokens);
        return usage;
    }

    public static ObjectNode chatCompletion(String id, String model, long created, String content,
            String finishReason, ObjectNode usage) {
        ObjectNode answer = head(id, "chat.completion", model, created);
        ObjectNode choice = answer.putArray("choices").addObject();
        choice.put("index", 0);
        choice.putObject("message").put("role", "assistant").put("content", content);
        choice.put("finish_reason", finishReason);
        answer.set("usage", usage);
        return answer;
    }

    /** A streamed chat chunk: the role first, then content pieces, then the finish reason. */
    public static ObjectNode chatChunk(String id, String model, long created, String role, String content,
            String finishReason) {
        ObjectNode chunk = head(id, "chat.completion.chunk", model, created);
        ObjectNode choice = chunk.putArray("choices").addObject();
        choice.put("index", 0);
        ObjectNode delta = choice.putObject("delta");
        if (role != null) {
            delta.put("role", role);
        }
        if (content != null) {
            delta.put("content", content);
        }
        choice.put("finish_reason", finishReason);
        return chunk;
    }

    public static ObjectNode completion(String id, String model, long created, String text, String finishReason,
            ObjectNode usage) {
        ObjectNode answer = completionChunk(id, model, created, text, finishReason);
        answer.set("usage", usage);
        return answer;
    }

    public static ObjectNode completionChunk(String id, String model, long created, String text, String finishReason) {
        ObjectNode chunk = head(id, "text_completion", model, created);
        ObjectNode choice = chunk.putArray("choices").addObject();
        choice.put("index", 0);
        choice.put("text", text);
        choice.put("finish_reason", finishReason);
        return chunk;
    }

    /** The final chunk of a stream that asked for {@code stream_options.include_usage}. */
    public static ObjectNode usageChunk(String id, String object, String model, long created, ObjectNode usage) {
        ObjectNode chunk = head(id, object, model, created);
        chunk.putArray("choices");
        chunk.set("usage", usage);
        return chunk;
    }

    public static ObjectNode embeddings(String model, List<float[]> vectors, int promptTokens) {
        ObjectNode answer = JSON.createObjectNode();
        answer.put("object", "list");
        ArrayNode data = answer.putArray("data");
        for (int i = 0; i < vectors.size(); i++) {
            ObjectNode item = data.addObject();
            item.put("object", "embedding");
            item.put("index", i);
            ArrayNode embedding = item.putArray("embedding");
            for (float x : vectors.get(i)) {
                embedding.add(x);
            }
        }
        answer.put("model", model);
        answer.putObject("usage").put("prompt_tokens", promptTokens).put("total_tokens", promptTokens);
        return answer;
    }

    /** One model, as {@code GET /v1/models/{model}} answers it and the list holds it; {@code created} in Unix seconds. */
    public static ObjectNode model(String id, long created, String ownedBy) {
        return JSON.createObjectNode().put("id", id).put("object", "model").put("created", created)
                .put("owned_by", ownedBy);
    }

    /** The answer of {@code GET /v1/models}: the given {@link #model}s. */
    public static ObjectNode models(List<ObjectNode> models) {
        ObjectNode answer = JSON.createObjectNode();
        answer.put("object", "list");
        answer.putArray("data").addAll(models);
        return answer;
    }

    /** OpenAI's error shape: {@code {"error":{"message","type","param","code"}}}, {@code param} null until set. */
    public static ObjectNode error(String message, String type, String code) {
        ObjectNode answer = JSON.createObjectNode();
        ObjectNode error = answer.putObject("error");
        error.put("message", message);
        error.put("type", type);
        error.putNull("param");
        error.put("code", code);
        return answer;
    }

    private static ObjectNode head(String id, String object, String model, long created) {
        ObjectNode node = JSON.createObjectNode();
        node.put("id", id);
        node.put("object", object);
        node.put("created", created);
        node.put("model", model);
        return node;
    }
}
