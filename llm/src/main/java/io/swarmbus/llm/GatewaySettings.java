package io.swarmbus.llm;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * How the gateway routes.
 *
 * @param backends the model servers
 * @param strategy routing strategy name (see {@link io.swarmbus.llm.route.Strategies})
 * @param maxQueue requests that may wait for a backend slot; beyond it 429
 * @param queueTimeout longest a request waits in the queue unless it names a shorter deadline
 * @param requestTimeout longest wait for a backend's response headers
 * @param retries further backends tried after a connect error, 5xx or 429, before any byte reached the client
 * @param fallbacks model → models tried, in order, when no backend of the model could answer
 * @param healthInterval period of the active health checks ({@code GET /v1/models})
 * @param quotas rate limits and daily budgets per key and per agent
 * @param scaling how the scaling signal is computed ({@link Scaling})
 * @param stateFile where usage totals and today's budgets are saved (every few seconds and at
 *     close) and restored from at start; null keeps them in memory only
 * @param routeStrategies model → the strategy routing its calls, where it is not {@code strategy}
 */
public record GatewaySettings(List<BackendSpec> backends, String strategy, int maxQueue, Duration queueTimeout,
        Duration requestTimeout, int retries, Map<String, List<String>> fallbacks, Duration healthInterval,
        Quotas.Settings quotas, Scaling.Settings scaling, Path stateFile, Map<String, String> routeStrategies) {

    public GatewaySettings {
        backends = List.copyOf(backends);
        java.util.Objects.requireNonNull(quotas, "quotas");
        java.util.Objects.requireNonNull(scaling, "scaling");
        fallbacks = Map.copyOf(fallbacks);
        io.swarmbus.llm.route.Strategies.check(strategy);
        routeStrategies = Map.copyOf(routeStrategies);
        routeStrategies.values().forEach(io.swarmbus.llm.route.Strategies::check);
        if (maxQueue < 0 || retries < 0) {
            throw new IllegalArgumentException("max_queue and retries must be 0 or more");
        }
    }

    /** The given backends with defaults for everything else. */
    public static GatewaySettings of(List<BackendSpec> backends, String strategy) {
        return new GatewaySettings(backends, strategy, 10_000, Duration.ofSeconds(60), Duration.ofSeconds(300), 2,
                Map.of(), Duration.ofSeconds(5), Quotas.Settings.NONE, Scaling.Settings.DEFAULT, null, Map.of());
    }

    public GatewaySettings withRequestTimeout(Duration timeout) {
        return new GatewaySettings(backends, strategy, maxQueue, queueTimeout, timeout, retries, fallbacks,
                healthInterval, quotas, scaling, stateFile, routeStrategies);
    }

    public GatewaySettings withQueue(int max, Duration timeout) {
        return new GatewaySettings(backends, strategy, max, timeout, requestTimeout, retries, fallbacks,
                healthInterval, quotas, scaling, stateFile, routeStrategies);
    }

    public GatewaySettings withFallbacks(Map<String, List<String>> map) {
        return new GatewaySettings(backends, strategy, maxQueue, queueTimeout, requestTimeout, retries, map,
                healthInterval, quotas, scaling, stateFile, routeStrategies);
    }

    public GatewaySettings withQuotas(Quotas.Settings limits) {
        return new GatewaySettings(backends, strategy, maxQueue, queueTimeout, requestTimeout, retries, fallbacks,
                healthInterval, limits, scaling, stateFile, routeStrategies);
    }

    public GatewaySettings withHealthInterval(Duration interval) {
        return new GatewaySettings(backends, strategy, maxQueue, queueTimeout, requestTimeout, retries, fallbacks,
                interval, quotas, scaling, stateFile, routeStrategies);
    }

    public GatewaySettings withStateFile(Path file) {
        return new GatewaySettings(backends, strategy, maxQueue, queueTimeout, requestTimeout, retries, fallbacks,
                healthInterval, quotas, scaling, file, routeStrategies);
    }
}
