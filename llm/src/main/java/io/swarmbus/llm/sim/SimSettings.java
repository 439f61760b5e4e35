package io.swarmbus.llm.sim;

import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * How the simulated model server behaves. Rates of 0 mean "instant", so
 * {@link #zeroLatency()} gives a backend that answers as fast as HTTP allows, for measuring the
 * gateway's own overhead.
 *
 * @param models model names served (and listed at {@code /v1/models})
 * @param overheadMillis fixed time before the first token
 * @param prefillTokensPerSecond how fast uncached prompt tokens are processed; 0 = instant
 * @param decodeTokensPerSecond output tokens per second of one sequence running alone; 0 = instant
 * @param decodeSlowdown each additional running sequence slows every sequence's decoding by this
 *     fraction (batching shares the GPU)
 * @param maxConcurrency sequences running at once; more wait in a queue
 * @param maxQueue requests allowed to wait; beyond it the answer is 429 (0 = unbounded)
 * @param cacheBlocks prefix-cache capacity in blocks (0 = no cache)
 * @param blockSize words (tokens) per cache block
 * @param outputTokens tokens generated when {@code max_tokens} does not ask for fewer
 * @param failureRate share of requests answered 500
 * @param slowRate share of requests slowed down by {@code slowFactor}
 * @param slowFactor how much slower a slowed request is
 * @param embeddingDimensions length of embedding vectors
 * @param seed seeds failure and slowness draws, so runs repeat
 */
public record SimSettings(
        List<String> models,
        double overheadMillis,
        double prefillTokensPerSecond,
        double decodeTokensPerSecond,
        double decodeSlowdown,
        int maxConcurrency,
        int maxQueue,
        int cacheBlocks,
        int blockSize,
        int outputTokens,
        double failureRate,
        double slowRate,
        double slowFactor,
        int embeddingDimensions,
        long seed) {

    public SimSettings {
        models = List.copyOf(models);
        if (models.isEmpty()) {
            throw new IllegalArgumentException("the simulator needs at least one model");
        }
        requireNonNegative("overhead-ms", overheadMillis);
        requireNonNegative("prefill-rate", prefillTokensPerSecond);
        requireNonNegative("decode-rate", decodeTokensPerSecond);
        requireNonNegative("decode-slowdown", decodeSlowdown);
        requireNonNegative("failure-rate", failureRate);
        requireNonNegative("slow-rate", slowRate);
        if (failureRate > 1 || slowRate > 1) {
            throw new IllegalArgumentException("--failure-rate and --slow-rate are shares between 0 and 1");
        }
        if (maxConcurrency < 1 || blockSize < 1 || outputTokens < 1 || embeddingDimensions < 1) {
            throw new IllegalArgumentException(
                    "--max-concurrency, --block-size, --output-tokens and --embedding-dimensions must be at least 1");
        }
        if (maxQueue < 0 || cacheBlocks < 0 || slowFactor < 1) {
            throw new IllegalArgumentException("--max-queue and --cache-blocks must be 0 or more, --slow-factor at least 1");
        }
    }

    private static void requireNonNegative(String option, double value) {
        if (!(value >= 0) || Double.isInfinite(value)) {
            throw new IllegalArgumentException("--" + option + " must be a number of 0 or more, was " + value);
        }
    }

    /**
     * A small GPU server serving a 7–8B model: 20 ms overhead, prefill 8,000 tokens/s, decode 60
     * tokens/s per sequence with 2% slowdown per extra sequence, 64 sequences at once, a prefix
     * cache of 8,192 blocks of 16 tokens, 32 output tokens.
     */
    public static SimSettings defaults() {
        return new SimSettings(List.of("sim-model"), 20, 8_000, 60, 0.02, 64, 0, 8_192, 16, 32, 0, 0, 1, 64, 42);
    }

    /** Everything instant: only HTTP and JSON remain, for measuring a gateway's added latency. */
    public static SimSettings zeroLatency() {
        return defaults().with(Map.of("overhead-ms", "0", "prefill-rate", "0", "decode-rate", "0"));
    }

    /** These settings with command-line options applied ({@code --decode-rate 30} as {@code decode-rate=30}). */
    public SimSettings with(Map<String, String> options) {
        List<String> models = this.models;
        double overhead = overheadMillis;
        double prefill = prefillTokensPerSecond;
        double decode = decodeTokensPerSecond;
        double slowdown = decodeSlowdown;
        int concurrency = maxConcurrency;
        int queue = maxQueue;
        int cache = cacheBlocks;
        int block = blockSize;
        int output = outputTokens;
        double failures = failureRate;
        double slow = slowRate;
        double factor = slowFactor;
        int dimensions = embeddingDimensions;
        long seedValue = seed;
        for (Map.Entry<String, String> option : options.entrySet()) {
            String value = option.getValue().trim();
            if (value.startsWith("-")) {
                throw new IllegalArgumentException("--" + option.getKey() + " must be 0 or more, was " + value);
            }
            try {
                switch (option.getKey()) {
                    case "model", "models" -> models = Arrays.stream(value.split(",")).map(String::trim)
                            .filter(m -> !m.isEmpty()).toList();
                    case "overhead-ms" -> overhead = Double.parseDouble(value);
                    case "prefill-rate" -> prefill = Double.parseDouble(value);
                    case "decode-rate" -> decode = Double.parseDouble(value);
                    case "decode-slowdown" -> slowdown = Double.parseDouble(value);
                    case "failure-rate" -> failures = Double.parseDouble(value);
                    case "slow-rate" -> slow = Double.parseDouble(value);
                    case "slow-factor" -> factor = Double.parseDouble(value);
                    case "max-concurrency" -> concurrency = Integer.parseInt(value);
                    case "max-queue" -> queue = Integer.parseInt(value);
                    case "cache-blocks" -> cache = Integer.parseInt(value);
                    case "block-size" -> block = Integer.parseInt(value);
                    case "output-tokens" -> output = Integer.parseInt(value);
                    case "embedding-dimensions" -> dimensions = Integer.parseInt(value);
                    case "seed" -> seedValue = Long.parseLong(value);
                    default -> throw new IllegalArgumentException("unknown option --" + option.getKey());
                }
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--" + option.getKey() + " must be a number, was '" + value + "'");
            }
        }
        return new SimSettings(models, overhead, prefill, decode, slowdown, concurrency, queue, cache, block, output,
                failures, slow, factor, dimensions, seedValue);
    }
}
