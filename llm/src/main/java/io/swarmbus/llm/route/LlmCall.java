package io.swarmbus.llm.route;

import io.swarmbus.llm.PromptText;
import java.util.List;

/**
 * What routing knows of one request.
 *
 * @param model the model asked for (after alias resolution)
 * @param agent who is calling: the agent, else the principal; fairness is per caller
 * @param priority 0 (low) to 3 (critical); higher is admitted first
 * @param words the prompt's words ({@link PromptText}), for cache-aware and cost-based routing;
 *     empty when the route's strategy does not read them ({@link RoutingStrategy#readsPrompt})
 * @param deadlineNanos {@link System#nanoTime} by which it must have been admitted
 */
public record LlmCall(String model, String agent, int priority, List<String> words, long deadlineNanos) {
    public LlmCall {
        words = List.copyOf(words);
        if (priority < 0 || priority > 3) {
            throw new IllegalArgumentException("priority must be 0 to 3");
        }
    }

    /** The same call for another model (a fallback). */
    public LlmCall withModel(String other) {
        return new LlmCall(other, agent, priority, words, deadlineNanos);
    }
}
