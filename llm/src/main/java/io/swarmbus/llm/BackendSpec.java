package io.swarmbus.llm;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * One OpenAI-compatible model server as configured.
 *
 * @param name how metrics and {@code /api/v1/llm/backends} call it
 * @param url base URL; requests go to {@code url + /v1/chat/completions} and so on
 * @param apiKey sent as {@code Authorization: Bearer}, read from the environment variable named in
 *     config ({@code api_key_env}), never from the config file itself
 * @param models models it serves; empty means "whatever its {@code /v1/models} lists"
 * @param weight share of traffic under the {@code weighted} strategy
 * @param maxConcurrency requests in flight to it at once; more wait in the admission queue
 * @param rpm requests per minute it accepts (0 = no limit), for {@code usage_based} and limits
 * @param tpm tokens per minute it accepts (0 = no limit)
 * @param inputCostPerMillion price of a million prompt tokens, for {@code cost_based} and accounting
 * @param outputCostPerMillion price of a million completion tokens
 */
public record BackendSpec(String name, URI url, Optional<String> apiKey, List<String> models, int weight,
        int maxConcurrency, int rpm, int tpm, double inputCostPerMillion, double outputCostPerMillion) {

    public static final int DEFAULT_MAX_CONCURRENCY = 64;

    public BackendSpec {
        models = List.copyOf(models);
        String scheme = url.getScheme();
        if (url.getHost() == null || !("http".equals(scheme) || "https".equals(scheme))) {
            throw new IllegalArgumentException("backend url '" + url + "' must be an http:// or https:// URL");
        }
        if (url.getRawUserInfo() != null) { // never sent, and the URL is shown to users: not echoed here either
            throw new IllegalArgumentException("backend url of host " + url.getHost() + " must not carry a user or "
                    + "password; put the key in an environment variable and name it in api_key_env");
        }
        if (weight < 1 || maxConcurrency < 1 || rpm < 0 || tpm < 0 || inputCostPerMillion < 0
                || outputCostPerMillion < 0) {
            throw new IllegalArgumentException("backend '" + name + "': weight and max_concurrency must be at "
                    + "least 1; rpm, tpm and costs 0 or more");
        }
    }

    /** A backend known only by its URL: every model it lists, default limits. */
    public static BackendSpec ofUrl(String url, int maxConcurrency) {
        URI uri = uri(url.trim());
        return new BackendSpec(uri.getHost() + ":" + port(uri), uri, Optional.empty(), List.of(), 1, maxConcurrency,
                0, 0, 0, 0);
    }

    /**
     * From a config entry: a URL string, or an object with {@code url} and optional {@code name},
     * {@code api_key_env}, {@code models}, {@code weight}, {@code max_concurrency}, {@code rpm},
     * {@code tpm}, {@code input_cost_per_million}, {@code output_cost_per_million}.
     */
    public static BackendSpec parse(JsonNode entry, int defaultMaxConcurrency, Map<String, String> env) {
        if (entry.isTextual()) {
            return ofUrl(entry.asText(), defaultMaxConcurrency);
        }
        if (!entry.isObject() || !entry.path("url").isTextual()) {
            throw new IllegalArgumentException("a backend is a URL or an object with a 'url', was " + entry);
        }
        for (var field : entry.properties()) {
            if (!List.of("url", "name", "api_key_env", "models", "weight", "max_concurrency", "rpm", "tpm",
                    "input_cost_per_million", "output_cost_per_million").contains(field.getKey())) {
                throw new IllegalArgumentException("backend field '" + field.getKey() + "' is unknown");
            }
        }
        URI uri = uri(entry.get("url").asText());
        Optional<String> key = Optional.empty();
        if (entry.has("api_key_env")) {
            String variable = entry.get("api_key_env").asText();
            key = Optional.ofNullable(env.get(variable)).filter(v -> !v.isEmpty());
            if (key.isEmpty()) {
                throw new IllegalArgumentException("backend " + uri + ": environment variable " + variable
                        + " (api_key_env) is not set");
            }
        }
        List<String> models = new ArrayList<>();
        entry.path("models").forEach(m -> models.add(m.asText()));
        return new BackendSpec(entry.path("name").asText(uri.getHost() + ":" + port(uri)), uri, key, models,
                entry.path("weight").asInt(1), entry.path("max_concurrency").asInt(defaultMaxConcurrency),
                entry.path("rpm").asInt(0), entry.path("tpm").asInt(0),
                entry.path("input_cost_per_million").asDouble(0), entry.path("output_cost_per_million").asDouble(0));
    }

    private static URI uri(String text) {
        try {
            URI uri = URI.create(text.endsWith("/") ? text.substring(0, text.length() - 1) : text);
            // "http://host:8000/v1" and "http://host:8000" both name the server.
            if (uri.getPath() != null && uri.getPath().endsWith("/v1")) {
                uri = URI.create(text.substring(0, text.lastIndexOf("/v1")));
            }
            return uri;
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("backend url '" + text + "' is not a URL");
        }
    }

    private static int port(URI uri) {
        return uri.getPort() != -1 ? uri.getPort() : "https".equals(uri.getScheme()) ? 443 : 80;
    }
}
