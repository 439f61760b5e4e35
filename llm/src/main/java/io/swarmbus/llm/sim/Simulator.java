package io.swarmbus.llm.sim;

import io.swarmbus.llm.PromptText;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/**
 * The latency model of {@code swarmbus llm-sim}: a model server with a prefix cache, a prefill
 * rate, batched decoding that slows as more sequences run, a concurrency cap with a waiting queue,
 * injected failures and slowness, and content that depends only on the model and the prompt.
 * The HTTP face is in the server module; this class decides what a request costs and says.
 *
 * <p>A request goes: {@link #admit} (waits for one of {@code maxConcurrency} slots), {@link #plan}
 * (prefix-cache lookup, time to first token, the output), then the caller waits out the plan's
 * time to first token and {@link #tokenIntervalNanos} between tokens.
 */
public final class Simulator {
    /** Words the simulated model says; chosen by a generator seeded with the prompt. */
    private static final String[] VOCABULARY = ("the a swarm agent message task result plan step check route cache "
            + "token model answer reason data fast slow queue lease reply team vote judge debate map reduce shard "
            + "node peer leader worker split merge score draft review final retry order batch stream prefix")
            .split(" ");

    private final SimSettings settings;
    private final PrefixCache cache;
    private final Semaphore slots;
    private final AtomicInteger running = new AtomicInteger();
    private final AtomicInteger waiting = new AtomicInteger();
    private final Random draws;
    private final LongAdder requests = new LongAdder();
    private final LongAdder failures = new LongAdder();
    private final LongAdder rejected = new LongAdder();
    private final LongAdder promptTokens = new LongAdder();
    private final LongAdder cachedTokens = new LongAdder();
    private final LongAdder completionTokens = new LongAdder();

    public Simulator(SimSettings settings) {
        this.settings = settings;
        this.cache = new PrefixCache(settings.cacheBlocks());
        this.slots = new Semaphore(settings.maxConcurrency(), true);
        this.draws = new Random(settings.seed());
    }

    public SimSettings settings() {
        return settings;
    }

    /** Thrown by {@link #admit} when the waiting queue is full. */
    public static final class QueueFull extends Exception {
        QueueFull(int waiting) {
            super(waiting + " requests are already waiting for a sequence slot");
        }
    }

    /** A running sequence's slot; closing it frees the slot. */
    public final class Slot implements AutoCloseable {
        private boolean open = true;

        @Override
        public void close() {
            if (open) {
                open = false;
                running.decrementAndGet();
                slots.release();
            }
        }
    }

    /** Waits for a free sequence slot, in arrival order. */
    public Slot admit() throws QueueFull, InterruptedException {
        if (!slots.tryAcquire()) {
            int queued = waiting.incrementAndGet();
            try {
                if (settings.maxQueue() > 0 && queued > settings.maxQueue()) {
                    rejected.increment();
                    throw new QueueFull(queued - 1);
                }
                slots.acquire();
            } finally {
                waiting.decrementAndGet();
            }
        }
        running.incrementAndGet();
        return new Slot();
    }

    /**
     * What answering costs and says.
     *
     * @param promptTokens tokens in the prompt
     * @param cachedTokens of those, found in the prefix cache
     * @param ttftNanos time to the first token: overhead plus uncached prompt over the prefill rate
     * @param output the generated words
     * @param truncated whether {@code max_tokens} cut the output short (finish reason "length")
     * @param fail whether this request is to fail (an injected 500)
     * @param slowFactor how much slower than the model this request runs (1 = not slowed)
     */
    public record Plan(int promptTokens, int cachedTokens, long ttftNanos, List<String> output, boolean truncated,
            boolean fail, double slowFactor) {}

    /** Plans a chat or completion request for {@code model}, counting it and updating the cache. */
    public Plan plan(String model, List<String> prompt, int maxTokens) {
        requests.increment();
        boolean fail;
        boolean slow;
        synchronized (draws) {
            fail = settings.failureRate() > 0 && draws.nextDouble() < settings.failureRate();
            slow = settings.slowRate() > 0 && draws.nextDouble() < settings.slowRate();
        }
        if (fail) {
            failures.increment();
            return new Plan(prompt.size(), 0, 0, List.of(), false, true, 1);
        }
        int cached = cache.lookupAndInsert(PromptText.blockHashes(prompt, settings.blockSize())) * settings.blockSize();
        int uncached = prompt.size() - cached;
        double slowFactor = slow ? settings.slowFactor() : 1;
        double seconds = settings.overheadMillis() / 1000.0
                + (settings.prefillTokensPerSecond() > 0 ? uncached / settings.prefillTokensPerSecond() : 0);
        int length = Math.max(1, Math.min(settings.outputTokens(), maxTokens > 0 ? maxTokens : Integer.MAX_VALUE));
        List<String> output = words(model, prompt, length);
        promptTokens.add(prompt.size());
        cachedTokens.add(cached);
        completionTokens.add(length);
        return new Plan(prompt.size(), cached, (long) (seconds * slowFactor * 1e9), output,
                maxTokens > 0 && maxTokens < settings.outputTokens(), false, slowFactor);
    }

    /**
     * Time between two output tokens of one sequence now: the single-sequence decode interval,
     * stretched by {@code decodeSlowdown} for every other sequence running.
     */
    public long tokenIntervalNanos(Plan plan) {
        if (settings.decodeTokensPerSecond() <= 0) {
            return 0;
        }
        double contention = 1 + settings.decodeSlowdown() * Math.max(0, running.get() - 1);
        return (long) (1e9 / settings.decodeTokensPerSecond() * contention * plan.slowFactor());
    }

    private static List<String> words(String model, List<String> prompt, int length) {
        Random random = new Random(model.hashCode() * 31L + prompt.hashCode());
        List<String> words = new ArrayList<>(length);
        for (int i = 0; i < length; i++) {
            words.add(VOCABULARY[random.nextInt(VOCABULARY.length)]);
        }
        return words;
    }

    /** A unit-length vector that depends only on {@code text}. */
    public float[] embedding(String text) {
        requests.increment();
        promptTokens.add(PromptText.words(text).size());
        Random random = new Random(text.hashCode());
        float[] vector = new float[settings.embeddingDimensions()];
        double norm = 0;
        for (int i = 0; i < vector.length; i++) {
            vector[i] = (float) random.nextGaussian();
            norm += vector[i] * vector[i];
        }
        for (int i = 0; i < vector.length; i++) {
            vector[i] = (float) (vector[i] / Math.sqrt(norm));
        }
        return vector;
    }

    /** Counters since start, and what runs and waits now. */
    public record Stats(long requests, long failures, long rejected, long promptTokens, long cachedTokens,
            long completionTokens, int running, int waiting, int cachedBlocks) {
        /** Share of prompt tokens found in the prefix cache. */
        public double cacheHitRate() {
            return promptTokens == 0 ? 0 : (double) cachedTokens / promptTokens;
        }
    }

    public Stats stats() {
        return new Stats(requests.sum(), failures.sum(), rejected.sum(), promptTokens.sum(), cachedTokens.sum(),
                completionTokens.sum(), running.get(), waiting.get(), cache.size());
    }
}
