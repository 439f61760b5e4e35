package io.swarmbus.llm.route;

import java.util.List;

/** Picks the backend for a call among those able to take it now. */
public interface RoutingStrategy {
    /**
     * @param candidates backends that serve the model, are healthy and have a free slot; never empty
     * @param call the request
     * @param now {@link System#nanoTime}
     */
    Backend choose(List<Backend> candidates, LlmCall call, long now);

    /** Told which backend a call went to, for strategies that learn (prefix affinity). */
    default void routed(Backend backend, LlmCall call) {}

    /**
     * Whether this strategy reads {@link LlmCall#words}. Splitting an agent's prompt of thousands of
     * words costs more than the rest of routing, so the gateway does it only for strategies that
     * read the words; the others get an empty list.
     */
    default boolean readsPrompt() {
        return false;
    }
}
