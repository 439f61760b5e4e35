package io.swarmbus.llm;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;

/**
 * The prompt of an OpenAI-style request as words. Both the simulator (its token counts and prefix
 * cache) and cache-aware routing (which prefix a request shares with earlier ones) read prompts
 * the same way, so what routing predicts is what the simulator caches. One word counts as one
 * token: real tokenizers differ by a constant factor, which changes no comparison made here.
 */
public final class PromptText {
    private PromptText() {}

    /**
     * The words of a chat request's {@code messages} (each message as its role, then its text) or
     * a completion request's {@code prompt}; an embeddings request's {@code input}.
     */
    public static List<String> words(JsonNode request) {
        List<String> words = new ArrayList<>();
        JsonNode messages = request.path("messages");
        if (messages.isArray()) {
            for (JsonNode message : messages) {
                words.add(message.path("role").asText("user") + ":");
                addText(words, message.get("content"));
            }
        } else if (request.has("prompt")) {
            addText(words, request.get("prompt"));
        } else {
            addText(words, request.get("input"));
        }
        return words;
    }

    /** The words of {@code text}, split on white space. */
    public static List<String> words(String text) {
        List<String> words = new ArrayList<>();
        split(words, text);
        return words;
    }

    private static void addText(List<String> words, JsonNode content) {
        if (content == null || content.isNull()) {
            return;
        }
        if (content.isTextual()) {
            split(words, content.asText());
        } else if (content.isArray()) {
            // A list of prompts, or of content parts such as {"type":"text","text":".."}.
            for (JsonNode part : content) {
                addText(words, part.isObject() ? part.get("text") : part);
            }
        } else {
            split(words, content.toString());
        }
    }

    private static void split(List<String> words, String text) {
        int start = -1;
        for (int i = 0; i <= text.length(); i++) {
            boolean space = i == text.length() || Character.isWhitespace(text.charAt(i));
            if (space && start >= 0) {
                words.add(text.substring(start, i));
                start = -1;
            } else if (!space && start < 0) {
                start = i;
            }
        }
    }

    /**
     * Chained hashes of the prompt's full blocks of {@code blockSize} words, as an inference server's
     * prefix cache keys its KV blocks: block {@code i}'s hash covers every word before it too, so
     * two prompts share a block hash only if they share the whole prefix up to it.
     */
    public static long[] blockHashes(List<String> words, int blockSize) {
        long[] hashes = new long[words.size() / blockSize];
        long hash = 0x9E3779B97F4A7C15L;
        for (int block = 0; block < hashes.length; block++) {
            for (int i = block * blockSize; i < (block + 1) * blockSize; i++) {
                hash = mix(hash ^ words.get(i).hashCode());
            }
            hashes[block] = hash;
        }
        return hashes;
    }

    /** A 64-bit finalizer (from SplitMix64): spreads word hashes over all 64 bits. */
    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
