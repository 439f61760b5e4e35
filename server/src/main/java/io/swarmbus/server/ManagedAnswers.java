package io.swarmbus.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.swarmbus.messaging.AgentId;
import java.io.IOException;

/** The words a managed agent sends its model, and how it reads the model's answer. */
final class ManagedAnswers {
    private ManagedAnswers() {}

    /** A task's end: the result to report, or why there is none (and whether the call cap ended it). */
    record Outcome(JsonNode result, String error, boolean capped) {
        static Outcome answered(JsonNode result) {
            return new Outcome(result, null, false);
        }

        static Outcome failed(String error, boolean capped) {
            return new Outcome(null, error, capped);
        }
    }

    /** The pool's system prompt, and who the replica is (so replicas are told apart, as people would be). */
    static String systemPrompt(ManagedTemplate template, AgentId replica) {
        String who = "You are " + replica + ", an agent of the '" + template.name() + "' team in a Swarmbus swarm.";
        return template.systemPrompt().isBlank() ? who : template.systemPrompt() + "\n\n" + who;
    }

    /** The task's description and input; with a schema, the request to answer in it. */
    static String userPrompt(String description, ObjectNode input, JsonNode schema) {
        StringBuilder prompt = new StringBuilder(description.isBlank() ? "Do the task." : description);
        if (!input.isEmpty()) {
            prompt.append("\n\nInput (JSON):\n").append(input.toPrettyString());
        }
        if (schema != null && schema.isObject()) {
            prompt.append("\n\nAnswer with only a JSON value fitting this schema:\n").append(schema);
        }
        return prompt.toString();
    }

    static JsonNode parse(String text) {
        try {
            return RequestBody.MAPPER.readTree(text);
        } catch (IOException e) {
            return null;
        }
    }

    /**
     * The JSON in a model's answer: the whole text, or what a code fence holds, or the span from
     * the first brace to the last. Models asked for JSON without guided decoding often wrap it.
     */
    static JsonNode extractJson(String content) {
        String text = content.strip();
        JsonNode whole = parse(text);
        if (whole != null && whole.isContainerNode()) {
            return whole;
        }
        int fence = text.indexOf("```");
        if (fence >= 0) {
            int start = text.indexOf('\n', fence);
            int end = text.indexOf("```", fence + 3);
            if (start > 0 && end > start) {
                JsonNode fenced = parse(text.substring(start + 1, end));
                if (fenced != null && fenced.isContainerNode()) {
                    return fenced;
                }
            }
        }
        int open = text.indexOf('{');
        int close = text.lastIndexOf('}');
        return open >= 0 && close > open ? parse(text.substring(open, close + 1)) : null;
    }

    /** Whether {@code json} is an object with every field {@code schema} requires. */
    static boolean hasRequired(JsonNode json, JsonNode schema) {
        if (!json.isObject()) {
            return !schema.path("type").asText("object").equals("object");
        }
        for (JsonNode field : schema.path("required")) {
            if (!json.has(field.asText())) {
                return false;
            }
        }
        return true;
    }

    /** At most 200 characters of {@code text}, for error messages. */
    static String clip(String text) {
        return text.length() <= 200 ? text : text.substring(0, 200) + "…";
    }
}
