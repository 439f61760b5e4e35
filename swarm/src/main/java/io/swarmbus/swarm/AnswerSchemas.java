package io.swarmbus.swarm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Collection;

/**
 * The JSON Schema of the answer each piece of work asks for. It travels with the work (in a task's
 * parameters as {@code answer_schema}) so an agent can check its answer, and a managed LLM agent
 * passes it to the model as OpenAI's {@code response_format} (structured output), which vLLM,
 * OpenAI and Ollama can enforce.
 */
final class AnswerSchemas {
    private AnswerSchemas() {}

    /** {@code {"answer": <text>}}, or one of {@code choices} when the objective offers them. */
    static ObjectNode answer(JsonNode choices) {
        ObjectNode answer = SwarmRunner.JSON.createObjectNode();
        if (choices.isArray() && !choices.isEmpty()) {
            answer.set("enum", choices.deepCopy());
        } else {
            answer.put("type", "string");
        }
        return object(answer, "answer");
    }

    /** {@code {"subtasks": [<text>, ...]}} with 1 to {@code max} subtasks. */
    static ObjectNode subtasks(int max) {
        ObjectNode list = SwarmRunner.JSON.createObjectNode().put("type", "array").put("minItems", 1).put("maxItems", max);
        list.putObject("items").put("type", "string");
        return object(list, "subtasks");
    }

    /** {@code {"winner": <member>, "scores": {<member>: 0-10}, "reason": <text>}}. */
    static ObjectNode verdict(Collection<String> members) {
        ObjectNode winner = SwarmRunner.JSON.createObjectNode();
        ArrayNode names = winner.putArray("enum");
        members.forEach(names::add);
        ObjectNode schema = object(winner, "winner");
        ObjectNode scores = ((ObjectNode) schema.get("properties")).putObject("scores").put("type", "object");
        ObjectNode each = scores.putObject("properties");
        members.forEach(m -> each.putObject(m).put("type", "number").put("minimum", 0).put("maximum", 10));
        ((ObjectNode) schema.get("properties")).putObject("reason").put("type", "string");
        return schema;
    }

    private static ObjectNode object(ObjectNode property, String name) {
        ObjectNode schema = SwarmRunner.JSON.createObjectNode().put("type", "object");
        schema.putObject("properties").set(name, property);
        schema.putArray("required").add(name);
        return schema;
    }
}
